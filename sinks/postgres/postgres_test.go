package postgres_test

import (
	"fmt"
	"testing"

	"github.com/fanoutbridge/bridge"
	"github.com/fanoutbridge/bridge/sinks/postgres"
)

func rows(from, to int, extra func(i int, r map[string]any)) []any {
	out := make([]any, 0, to-from)
	for i := from; i < to; i++ {
		r := map[string]any{"id": i, "name": fmt.Sprintf("user %d", i), "score": int64(i * 10)}
		if extra != nil {
			extra(i, r)
		}
		out = append(out, r)
	}
	return out
}

// A load through a pipeline lands every row once; a later load with a new
// field adds a column; a value that does not fit its column lands in the
// variant column the normalizer made for it.
func TestLoadEvolveVariant(t *testing.T) {
	d := newDB(t)
	p := pipeline(t, "pg_"+randName(), t.TempDir(), postgres.Destination("pg", bridge.WithConfig(d.config()), bridge.BatchSize(100)))

	if _, err := p.Run(ctxT(t), rows(0, 1000, nil), bridge.TableName("users")); err != nil {
		t.Fatalf("Run: %v", err)
	}
	users := d.ident("users")
	if n := d.int64("SELECT count(*) FROM " + users); n != 1000 {
		t.Fatalf("count = %d after the first load, want 1000", n)
	}
	if n := d.int64("SELECT count(DISTINCT id) FROM " + users); n != 1000 {
		t.Fatalf("%d distinct ids, want 1000", n)
	}
	cols := d.columns("users")
	if cols["id"] != "bigint" || cols["name"] != "text" || cols["score"] != "bigint" {
		t.Fatalf("columns %v", cols)
	}
	if n := d.int64("SELECT count(*) FROM "+d.ident("_bridge_batches")+" WHERE table_name = $1", "users"); n != 10 {
		t.Fatalf("%d batches recorded, want 10", n)
	}

	// A new field: a new column, filled for the new rows only.
	if _, err := p.Run(ctxT(t), rows(1000, 1200, func(i int, r map[string]any) { r["country"] = "PT" }), bridge.TableName("users")); err != nil {
		t.Fatalf("Run with a new field: %v", err)
	}
	if typ := d.columns("users")["country"]; typ != "text" {
		t.Fatalf("column country: %q, want text", typ)
	}
	if n := d.int64("SELECT count(*) FROM " + users + " WHERE country = 'PT'"); n != 200 {
		t.Fatalf("%d rows with country, want 200", n)
	}

	// score is bigint: later rows carry text that is not a number.
	if _, err := p.Run(ctxT(t), rows(1200, 1300, func(i int, r map[string]any) {
		if i >= 1250 {
			r["score"] = fmt.Sprintf("high-%d", i)
		}
	}), bridge.TableName("users")); err != nil {
		t.Fatalf("Run with a variant: %v", err)
	}
	cols = d.columns("users")
	if cols["score__v_text"] != "text" {
		t.Fatalf("no variant column score__v_text: %v", cols)
	}
	if n := d.int64("SELECT count(*) FROM " + users + " WHERE score__v_text LIKE 'high-%' AND score IS NULL AND id >= 1250"); n != 50 {
		t.Fatalf("%d rows with the text in score__v_text, want 50", n)
	}
	if n := d.int64("SELECT count(*) FROM " + users + " WHERE score IS NOT NULL AND id >= 1200 AND id < 1250"); n != 50 {
		t.Fatalf("%d rows with a bigint score, want 50", n)
	}
	if n := d.int64("SELECT count(*) FROM " + users); n != 1300 {
		t.Fatalf("count = %d, want 1300", n)
	}
}
