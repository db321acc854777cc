package exec_test

import (
	"context"
	"testing"
)

// BenchmarkWrite measures a round trip of a 100-row batch of every data type
// through a running program (the test binary, answering ok).
func BenchmarkWrite(b *testing.B) {
	s, _ := newSink(b, "ok")
	table, rows := everyTypeTable(), everyTypeRows()
	for len(rows) < 100 {
		rows = append(rows, rows...)
	}
	rows = rows[:100]
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Write(context.Background(), table, "b1", rows); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(rows))/b.Elapsed().Seconds(), "rows/s")
}
