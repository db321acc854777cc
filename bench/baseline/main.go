// Command baseline is the benchmark's yardstick: Go's encoding/json decoding
// a JSON lines file into map[string]any and doing nothing else. It prints
// items/s and peak memory like `bridge run` does.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: baseline FILE.jsonl")
		os.Exit(2)
	}
	f, err := os.Open(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer f.Close()
	start := time.Now()
	r := bufio.NewReaderSize(f, 1<<20)
	n := 0
	for {
		line, err := r.ReadSlice('\n')
		if len(line) > 1 {
			var m map[string]any
			if jerr := json.Unmarshal(line, &m); jerr != nil {
				fmt.Fprintf(os.Stderr, "line %d: %v\n", n+1, jerr)
				os.Exit(1)
			}
			n++
		}
		if err != nil {
			break
		}
	}
	secs := time.Since(start).Seconds()
	fmt.Printf("baseline encoding/json: %d items in %.2fs (%.0f items/s), peak memory %.1f MiB\n",
		n, secs, float64(n)/secs, float64(peakRSS())/(1<<20))
}

func peakRSS() int64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
