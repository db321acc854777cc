package batcher

import (
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/fanoutbridge/bridge/schema"
)

// A 15 MB string in a Parquet load file is there once, not once per
// statistic (page header, column index and chunk statistics each held a
// copy: 6 in all), and comes back whole.
func TestLargeValueParquet(t *testing.T) {
	tb := &schema.Table{Name: "t"}
	if err := tb.AddColumn(schema.Column{Name: "s", DataType: schema.TypeText, Nullable: true}); err != nil {
		t.Fatal(err)
	}
	if err := tb.AddColumn(schema.Column{Name: "n", DataType: schema.TypeBigInt, Nullable: true}); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, 15_000_000)
	for i := range b {
		b[i] = byte('a' + r.IntN(26)) // hardly compressible
	}
	s := string(b)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	out, err := Encode(nil, Parquet, tb, []schema.Row{{"s": s, "n": int64(1)}})
	if err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	lf, err := LoadFile(Parquet, out)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("load file %d bytes for a %d-byte string; the encoder allocated %d MiB", len(lf), len(s), (after.TotalAlloc-before.TotalAlloc)>>20)
	if len(lf) > 2*len(s) {
		t.Errorf("load file of %d bytes: more than twice the %d-byte value", len(lf), len(s))
	}
	_, rows, err := Decode(Parquet, out)
	if err != nil || len(rows) != 1 || rows[0]["s"] != s || rows[0]["n"] != int64(1) {
		t.Fatalf("round trip: %d rows, err %v", len(rows), err)
	}
}
