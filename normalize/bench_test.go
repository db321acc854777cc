package normalize

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/fanoutbridge/bridge/schema"
)

// genEvent builds an item like /work/shared/bench/gen_events.py writes, in the
// form a JSON parser (internal/jsonv) hands over: int64, float64, string,
// bool, map[string]any, []any.
func genEvent(rnd *rand.Rand, i int) map[string]any {
	cities := []string{"Berlin", "Lisbon", "Austin", "Osaka", "Nairobi", "Quito", "Oslo", "Perth"}
	tags := make([]any, rnd.IntN(4))
	for j := range tags {
		tags[j] = string(rune('a' + rnd.IntN(5)))
	}
	return map[string]any{
		"id":        int64(i),
		"user_name": fmt.Sprintf("user_%08d", rnd.IntN(100_000_000)),
		"email":     fmt.Sprintf("u%d@example.org", rnd.IntN(1_000_000)),
		"created_at": fmt.Sprintf("2026-%02d-%02dT%02d:%02d:%02dZ",
			1+rnd.IntN(12), 1+rnd.IntN(28), rnd.IntN(24), rnd.IntN(60), rnd.IntN(60)),
		"amount":  float64(rnd.IntN(1_000_000)) / 100,
		"active":  rnd.IntN(2) == 0,
		"score":   int64(rnd.IntN(2001) - 1000),
		"address": map[string]any{"city": cities[rnd.IntN(len(cities))], "zip": fmt.Sprintf("%05d", rnd.IntN(100_000))},
		"tags":    tags,
	}
}

// cloneItem deep-copies an item, so every iteration of a ReuseInput
// benchmark gets fresh input, as it would from the parser.
func cloneItem(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = cloneItem(e)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = cloneItem(e)
		}
		return l
	}
	return v
}

func BenchmarkNormalize(b *testing.B) {
	const pool = 4096
	rnd := rand.New(rand.NewPCG(42, 42))
	items := make([]map[string]any, pool)
	for i := range items {
		items[i] = genEvent(rnd, i)
	}
	cases := []struct {
		name string
		cfg  Config
	}{
		{"nesting0/reuse", Config{MaxNesting: 0, ReuseInput: true, SystemColumns: true}},
		{"nesting0/copy", Config{MaxNesting: 0, SystemColumns: true}},
		{"nesting0/reuse/nosys", Config{MaxNesting: 0, ReuseInput: true}},
		{"nesting1/reuse", Config{MaxNesting: 1, ReuseInput: true, SystemColumns: true}},
		{"nesting1/copy", Config{MaxNesting: 1, SystemColumns: true}},
		{"nesting0/reuse/snake", Config{Naming: SnakeCase, ReuseInput: true, SystemColumns: true}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			c.cfg.LoadID = "1700000000.123456"
			n, err := New(c.cfg, nil)
			if err != nil {
				b.Fatal(err)
			}
			rows := 0
			emit := func(*schema.Table, schema.Row) error { rows++; return nil }
			// With ReuseInput the normalizer takes the input over: give it
			// fresh copies, as a parser would, made outside the timer in
			// chunks, and collect the garbage there too, so the timed part
			// pays only for its own allocations.
			var fresh []any
			if c.cfg.ReuseInput {
				fresh = make([]any, pool)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				j := i % pool
				var item any = items[j]
				if c.cfg.ReuseInput {
					if j == 0 {
						b.StopTimer()
						for k := range fresh {
							fresh[k] = cloneItem(items[k])
						}
						runtime.GC()
						b.StartTimer()
					}
					item = fresh[j]
				}
				if err := n.Normalize(item, "events", emit); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(rows)/float64(b.N), "rows/op")
		})
	}
}

// eventKeys is the order gen_events.py writes an event's keys in.
var eventKeys = []string{"id", "user_name", "email", "created_at", "amount", "active", "score", "address", "tags"}

// BenchmarkNormalizeObject is BenchmarkNormalize for events given as their
// members in input order (what the JSON lines reader hands over), through
// NormalizeObject: after the first row every row takes the fast path, to
// values by column index.
func BenchmarkNormalizeObject(b *testing.B) {
	const pool = 4096
	rnd := rand.New(rand.NewPCG(42, 42))
	objs := make([]schema.Object, pool)
	for i := range objs {
		ev := genEvent(rnd, i)
		for _, k := range eventKeys {
			objs[i] = append(objs[i], schema.Member{Key: k, Value: ev[k]})
		}
	}
	for _, c := range []struct {
		name string
		cfg  Config
	}{
		{"nesting0/reuse", Config{ReuseInput: true, SystemColumns: true}},
		{"nesting0/reuse/nosys", Config{ReuseInput: true}},
	} {
		b.Run(c.name, func(b *testing.B) {
			c.cfg.LoadID = "1700000000.123456"
			n, err := New(c.cfg, nil)
			if err != nil {
				b.Fatal(err)
			}
			rows, fast := 0, 0
			emit := func(*schema.Table, schema.Row) error { rows++; return nil }
			emitVals := func(*schema.Table, schema.Vals) error { rows++; fast++; return nil }
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				// The fast path keeps the values and changes nothing in
				// them, so the objects serve again.
				if err := n.NormalizeObject(objs[i%pool], "events", emit, emitVals); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(fast)/float64(rows), "fast/row")
		})
	}
}
