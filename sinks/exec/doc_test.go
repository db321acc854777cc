package exec_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	osexec "os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fanoutbridge/bridge/sinks/exec"
)

const protocolDoc = "../../docs/exec-protocol.md"

// codeBlock returns the first fenced block of docs/exec-protocol.md whose
// info string is lang.
func codeBlock(t *testing.T, lang string) string {
	t.Helper()
	doc, err := os.ReadFile(protocolDoc)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "\n```"+lang+"\n")
	if !ok {
		t.Fatalf("%s has no ```%s block", protocolDoc, lang)
	}
	block, _, ok := strings.Cut(rest, "\n```\n")
	if !ok {
		t.Fatalf("%s: ```%s block does not end", protocolDoc, lang)
	}
	return block + "\n"
}

// TestExchangeMatchesDoc checks that the doc's example exchange is what
// bridge writes, byte for byte, and that the program receives it so.
func TestExchangeMatchesDoc(t *testing.T) {
	want := codeBlock(t, "jsonl")
	s, dir := newSink(t, "ok")
	if err := s.Write(context.Background(), ordersTable(), ordersBatch, ordersRows()); err != nil {
		t.Fatal(err)
	}
	for _, lines := range received(t, dir) {
		if got := strings.Join(lines, "\n") + "\n"; got != want {
			t.Errorf("the program received\n%s\nthe doc says\n%s", got, want)
		}
	}
}

// runExample runs a destination program from the doc on the example batch,
// in a fresh working directory it returns.
func runExample(t *testing.T, argv ...string) string {
	t.Helper()
	dir := t.TempDir()
	s, err := exec.New(exec.Config{Argv: argv, Dir: dir, Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		checkNoGoroutines(t)
	}()
	if err := s.Write(context.Background(), ordersTable(), ordersBatch, ordersRows()); err != nil {
		t.Fatal(err)
	}
	return dir
}

// wantRows returns the row lines of the doc's exchange.
func wantRows(t *testing.T) []string {
	lines := strings.Split(strings.TrimSuffix(codeBlock(t, "jsonl"), "\n"), "\n")
	return lines[1:]
}

func TestPythonExample(t *testing.T) {
	python, err := osexec.LookPath("python3")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("python3 is required in CI: %v", err)
		}
		t.Skipf("no python3: %v", err)
	}
	script := filepath.Join(t.TempDir(), "dest.py")
	if err := os.WriteFile(script, []byte(codeBlock(t, "python")), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := runExample(t, python, script)
	got, err := os.ReadFile(filepath.Join(dir, "orders.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	// Python writes its own spacing: compare the values.
	gotRows := strings.Split(strings.TrimSuffix(string(got), "\n"), "\n")
	want := wantRows(t)
	if len(gotRows) != len(want) {
		t.Fatalf("python wrote %d rows, want %d:\n%s", len(gotRows), len(want), got)
	}
	for i := range want {
		var g, w any
		if err := json.Unmarshal([]byte(gotRows[i]), &g); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(want[i]), &w); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("row %d: python stored %s, want %s", i, gotRows[i], want[i])
		}
	}
}

func TestShellExample(t *testing.T) {
	sh, err := osexec.LookPath("sh")
	if err != nil {
		t.Skipf("no sh: %v", err)
	}
	script := filepath.Join(t.TempDir(), "dest.sh")
	if err := os.WriteFile(script, []byte(codeBlock(t, "sh")), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := runExample(t, sh, script)
	got, err := os.ReadFile(filepath.Join(dir, "rows.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Join(wantRows(t), "\n") + "\n"; !bytes.Equal(got, []byte(want)) {
		t.Errorf("sh stored\n%s\nwant\n%s", got, want)
	}
}
