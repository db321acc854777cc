package batcher

import (
	"strings"
	"testing"
	"time"

	"github.com/fanoutbridge/bridge/schema"
)

func TestPolicyCutsByRowsBytesAndAge(t *testing.T) {
	var got []int
	b := NewPolicy(Policy{Rows: 10, Bytes: 1000, Period: time.Minute}, func(bt Batch) error {
		got = append(got, len(bt.Rows))
		return nil
	})
	tb := &schema.Table{Name: "t"}
	small := schema.Row{"id": int64(1)}
	big := schema.Row{"s": strings.Repeat("x", 400)}
	for range 10 {
		if err := b.Add(tb, small); err != nil {
			t.Fatal(err)
		}
	}
	// 10 rows: cut by count.
	for range 3 {
		_ = b.Add(tb, big)
	}
	// ~1200 bytes: cut by size at the third big row.
	if want := []int{10, 3}; !equal(got, want) {
		t.Fatalf("batches %v, want %v", got, want)
	}
	_ = b.Add(tb, small)
	next, err := b.FlushDue(time.Now())
	if err != nil || next <= 0 || next > time.Minute || len(got) != 2 {
		t.Fatalf("FlushDue before the period: next %v, err %v, batches %v", next, err, got)
	}
	next, err = b.FlushDue(time.Now().Add(time.Minute))
	if err != nil || next != 0 || !equal(got, []int{10, 3, 1}) {
		t.Fatalf("FlushDue after the period: next %v, err %v, batches %v", next, err, got)
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
