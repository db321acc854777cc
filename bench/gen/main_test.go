package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// The workload is deterministic for a seed and has the fields and types
// of gen_events.py.
func TestWrite(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.jsonl"), filepath.Join(dir, "b.jsonl")
	if err := write(a, 1000, 7); err != nil {
		t.Fatal(err)
	}
	if err := write(b, 1000, 7); err != nil {
		t.Fatal(err)
	}
	da, _ := os.ReadFile(a)
	db, _ := os.ReadFile(b)
	if !bytes.Equal(da, db) {
		t.Fatal("the same seed wrote two different files")
	}
	lines := bytes.Split(bytes.TrimSuffix(da, []byte("\n")), []byte("\n"))
	if len(lines) != 1000 {
		t.Fatalf("%d lines, want 1000", len(lines))
	}
	for i, l := range lines {
		dec := json.NewDecoder(bytes.NewReader(l))
		dec.UseNumber()
		var ev map[string]any
		if err := dec.Decode(&ev); err != nil {
			t.Fatalf("line %d: %v: %s", i+1, err, l)
		}
		if len(ev) != 9 || ev["id"].(json.Number).String() != itoa(i) {
			t.Fatalf("line %d: %s", i+1, l)
		}
		if amt := ev["amount"].(json.Number).String(); !bytes.ContainsRune([]byte(amt), '.') {
			t.Fatalf("line %d: amount %s is not written as a float", i+1, amt)
		}
		if addr, ok := ev["address"].(map[string]any); !ok || len(addr) != 2 {
			t.Fatalf("line %d: address %v", i+1, ev["address"])
		}
		if tags, ok := ev["tags"].([]any); !ok || len(tags) > 3 {
			t.Fatalf("line %d: tags %v", i+1, ev["tags"])
		}
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }
