package jsonv

import (
	"encoding/json"
	"fmt"
	"github.com/fanoutbridge/bridge/schema"
	"math/rand/v2"
	"testing"
)

// eventLine returns line i of a gen_events.py-like workload
// (/work/shared/bench/gen_events.py): flat scalars, an RFC 3339 string, a
// nested object and a list.
func eventLine(r *rand.Rand, i int) []byte {
	cities := []string{"Berlin", "Lisbon", "Austin", "Osaka", "Nairobi", "Quito", "Oslo", "Perth"}
	tags := ""
	for j := range r.IntN(4) {
		if j > 0 {
			tags += ","
		}
		tags += fmt.Sprintf("%q", string(rune('a'+r.IntN(5))))
	}
	return fmt.Appendf(nil, `{"id":%d,"user_name":"user_%08d","email":"u%d@example.org","created_at":"2026-%02d-%02dT%02d:%02d:%02dZ","amount":%.2f,"active":%t,"score":%d,"address":{"city":%q,"zip":"%05d"},"tags":[%s]}`,
		i, r.IntN(1e8), r.IntN(1e6), 1+r.IntN(12), 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60),
		r.Float64()*10000, r.IntN(2) == 0, r.IntN(2001)-1000, cities[r.IntN(len(cities))], r.IntN(1e5), tags)
}

func eventLines(n int) [][]byte {
	r := rand.New(rand.NewPCG(42, 0))
	lines := make([][]byte, n)
	for i := range lines {
		lines[i] = eventLine(r, i)
	}
	return lines
}

func BenchmarkParse(b *testing.B) {
	lines := eventLines(1024)
	size := 0
	for _, l := range lines {
		size += len(l)
	}
	b.Run("jsonv", func(b *testing.B) {
		b.SetBytes(int64(size / len(lines)))
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := Parse(lines[i%len(lines)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	// What the JSON lines reader does: a Boxer per chunk of lines, objects
	// as their members (no map for the event itself).
	// With RawNested, as the reader does for a normalizer that keeps
	// nested values as json columns: they stay text.
	for _, raw := range []bool{false, true} {
		name := "jsonv-object"
		if raw {
			name += "-raw-nested"
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(size / len(lines)))
			b.ReportAllocs()
			strs := make([]string, len(lines))
			for i, l := range lines {
				strs[i] = string(l)
			}
			var box Boxer
			var members schema.Object
			i := 0
			for b.Loop() {
				if i%512 == 0 {
					box, members = Boxer{RawNested: raw}, members[:0]
				}
				var err error
				if members, _, _, err = box.ParseObject(strs[i%len(strs)], members); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
	b.Run("encoding_json", func(b *testing.B) {
		b.SetBytes(int64(size / len(lines)))
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			var v any
			if err := json.Unmarshal(lines[i%len(lines)], &v); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

func BenchmarkAppendValue(b *testing.B) {
	lines := eventLines(1024)
	vals := make([]any, len(lines))
	for i, l := range lines {
		vals[i], _ = Parse(l)
	}
	b.Run("jsonv", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		i := 0
		for b.Loop() {
			var err error
			if buf, err = AppendValue(buf[:0], vals[i%len(vals)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := json.Marshal(vals[i%len(vals)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}
