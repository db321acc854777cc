// Command gen writes the benchmark's workload: N JSON lines of events with
// flat scalars, an RFC 3339 timestamp, a two-decimal amount, a nested
// object and a list, so that the normalizer has real work to do. The
// output is deterministic for a seed. It has the shape of
// gen_events.py, the workload the benchmarks were first measured with
// (the same fields, types and value ranges; not the same random values).
//
//	go run ./bench/gen N OUT.jsonl [SEED]
package main

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
)

func main() {
	if len(os.Args) < 3 || len(os.Args) > 4 {
		fmt.Fprintln(os.Stderr, "usage: gen N OUT.jsonl [SEED]")
		os.Exit(2)
	}
	n, err := strconv.Atoi(os.Args[1])
	if err != nil || n < 0 {
		fmt.Fprintf(os.Stderr, "gen: N %q: want a count of events\n", os.Args[1])
		os.Exit(2)
	}
	seed := uint64(42)
	if len(os.Args) == 4 {
		if seed, err = strconv.ParseUint(os.Args[3], 10, 64); err != nil {
			fmt.Fprintf(os.Stderr, "gen: SEED %q: want a number\n", os.Args[3])
			os.Exit(2)
		}
	}
	if err := write(os.Args[2], n, seed); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

var (
	cities = []string{"Berlin", "Lisbon", "Austin", "Osaka", "Nairobi", "Quito", "Oslo", "Perth"}
	tags   = []string{"a", "b", "c", "d", "e"}
)

func write(path string, n int, seed uint64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	rnd := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var b []byte
	for i := range n {
		b = appendEvent(b[:0], rnd, i)
		if _, err := w.Write(b); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// appendEvent writes event i as a JSON line.
func appendEvent(b []byte, rnd *rand.Rand, i int) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, int64(i), 10)
	b = fmt.Appendf(b, `,"user_name":"user_%08d"`, rnd.IntN(100_000_000))
	b = fmt.Appendf(b, `,"email":"u%d@example.org"`, rnd.IntN(1_000_000))
	b = fmt.Appendf(b, `,"created_at":"2026-%02d-%02dT%02d:%02d:%02dZ"`,
		1+rnd.IntN(12), 1+rnd.IntN(28), rnd.IntN(24), rnd.IntN(60), rnd.IntN(60))
	// Two decimals, always a JSON number with a fraction (8212.74, 5.0):
	// the column is a double, as Python's json writes it.
	amount := strconv.FormatFloat(float64(rnd.IntN(1_000_001))/100, 'f', -1, 64)
	if !strings.Contains(amount, ".") {
		amount += ".0"
	}
	b = append(b, `,"amount":`...)
	b = append(b, amount...)
	b = append(b, `,"active":`...)
	b = strconv.AppendBool(b, rnd.IntN(2) == 0)
	b = append(b, `,"score":`...)
	b = strconv.AppendInt(b, int64(rnd.IntN(2001)-1000), 10)
	b = fmt.Appendf(b, `,"address":{"city":%q,"zip":"%05d"}`, cities[rnd.IntN(len(cities))], rnd.IntN(100_000))
	b = append(b, `,"tags":[`...)
	for j := range rnd.IntN(4) {
		if j > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, tags[rnd.IntN(len(tags))])
	}
	return append(b, "]}\n"...)
}
