package postgres_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/fanoutbridge/bridge"
	"github.com/fanoutbridge/bridge/sinks/postgres"
)

// w1Items are n events shaped like /work/shared/bench/gen_events.py's:
// flat scalars, an RFC 3339 string, a nested object and a list (kept as
// jsonb, the default nesting of 0).
func w1Items(n int) []any {
	rnd := rand.New(rand.NewPCG(42, 42))
	cities := []string{"Berlin", "Lisbon", "Austin", "Osaka", "Nairobi", "Quito", "Oslo", "Perth"}
	out := make([]any, n)
	for i := range out {
		tags := make([]any, rnd.IntN(4))
		for j := range tags {
			tags[j] = string(rune('a' + rnd.IntN(5)))
		}
		out[i] = map[string]any{
			"id":        i,
			"user_name": fmt.Sprintf("user_%08d", rnd.IntN(100_000_000)),
			"email":     fmt.Sprintf("u%d@example.org", rnd.IntN(1_000_000)),
			"created_at": fmt.Sprintf("2026-%02d-%02dT%02d:%02d:%02dZ", 1+rnd.IntN(12), 1+rnd.IntN(28), rnd.IntN(24),
				rnd.IntN(60), rnd.IntN(60)),
			"amount":  float64(rnd.IntN(1_000_000)) / 100,
			"active":  rnd.IntN(2) == 0,
			"score":   rnd.IntN(2001) - 1000,
			"address": map[string]any{"city": cities[rnd.IntN(len(cities))], "zip": fmt.Sprintf("%05d", rnd.IntN(100_000))},
			"tags":    tags,
		}
	}
	return out
}

// BenchmarkW1 loads W1-like events through a pipeline (embedded NATS,
// batch 1000) into PostgreSQL, and the same events through the null
// destination (which discards) as the baseline, one load of each in turn
// per op so that both see the same machine. It reports both rates and
// their ratio.
//
//	go test -run '^$' -bench W1 -benchtime 5x ./sinks/postgres/
func BenchmarkW1(b *testing.B) {
	const benchRows = 50_000
	items := w1Items(benchRows)
	d := newDB(b)
	null := pipeline(b, "pg_bench_"+randName(), b.TempDir(),
		bridge.NewDestination("null", func(context.Context, []bridge.Row, bridge.Table) error { return nil }, bridge.BatchSize(1000)))
	pg := pipeline(b, "pg_bench_"+randName(), b.TempDir(), postgres.Destination("pg", bridge.WithConfig(d.config()), bridge.BatchSize(1000)))
	ctx := context.Background()
	load := func(p *bridge.Pipeline, items []any) time.Duration {
		start := time.Now()
		if _, err := p.Run(ctx, items, bridge.TableName("events")); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	// One load first: the tables and the consumers exist before timing.
	load(null, items[:1000])
	load(pg, items[:1000])
	var tNull, tPG time.Duration
	b.ResetTimer()
	for range b.N {
		tNull += load(null, items)
		tPG += load(pg, items)
	}
	b.StopTimer()
	n := float64(b.N * benchRows)
	b.ReportMetric(n/tNull.Seconds(), "null-items/s")
	b.ReportMetric(n/tPG.Seconds(), "pg-items/s")
	b.ReportMetric(tNull.Seconds()/tPG.Seconds(), "pg/null")
	if got := d.int64("SELECT count(*) FROM " + d.ident("events")); got != int64(1000+b.N*benchRows) {
		b.Fatalf("count = %d, want %d", got, 1000+b.N*benchRows)
	}
}
