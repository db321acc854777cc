// Command report runs the reference benchmark and prints every figure in
// one go: the encoding/json baseline, bridge in one process, bridge with
// every batch decoded from the stream (as a worker in another process reads
// it), bridge as two processes (a worker, bridge serve, and a producer,
// bridge produce, sharing the worker's embedded server), Parquet in
// transit, and peak memory; with -prefix, also the baseline
// and one process on the prefix, and the peak memory of the input against
// the prefix. Each configuration runs rounds times, the rounds interleaved
// so that the machine's noise falls on all of them alike; it prints the
// medians and the ratios to the baseline of the same run and input.
// bench/run.sh builds the binaries and calls it. WORKDIR holds the
// pipeline's store: report empties it before every run.
//
//	report [-rounds 3] [-prefix PREFIX.jsonl] BRIDGE BASELINE INPUT.jsonl WORKDIR
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// config is one thing measured.
type config struct {
	name  string
	input int      // index into the inputs: 0 the input, 1 the prefix
	args  []string // extra flags of bridge run; nil: the baseline
	two   bool     // bridge serve and bridge produce instead of bridge run
}

// result is one run of a config.
type result struct {
	items   int
	perSec  float64
	peakMiB float64
}

var (
	reLoad     = regexp.MustCompile(`published (\d+) items in .*\(([\d.]+) items/s\)`)
	rePeak     = regexp.MustCompile(`peak memory ([\d.]+) MiB`)
	reProduced = regexp.MustCompile(`published (\d+) items in .* in ([\d.]+)s`)
	reBaseline = regexp.MustCompile(`: (\d+) items in .*\(([\d.]+) items/s\), peak memory ([\d.]+) MiB`)
)

func main() {
	rounds := flag.Int("rounds", 3, "runs of each configuration (the median is printed)")
	prefix := flag.String("prefix", "", "a shorter input (a prefix of INPUT) to measure too, for the memory ratio")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: report [-rounds N] [-prefix PREFIX.jsonl] BRIDGE BASELINE INPUT.jsonl WORKDIR")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 4 || *rounds < 1 {
		flag.Usage()
		os.Exit(2)
	}
	bridge, baseline, work := flag.Arg(0), flag.Arg(1), flag.Arg(3)
	inputs := []string{flag.Arg(2)}
	if *prefix != "" {
		inputs = append(inputs, *prefix)
	}
	const long, short = 0, 1
	var configs []config
	if *prefix != "" {
		configs = append(configs, config{name: "baseline", input: short})
	}
	configs = append(configs, config{name: "baseline", input: long})
	if *prefix != "" {
		configs = append(configs, config{name: "one process", input: short, args: []string{}})
	}
	configs = append(configs,
		config{name: "one process", input: long, args: []string{}},
		config{name: "decoded from the stream", input: long, args: []string{"--row-cache", "0"}},
		config{name: "two processes", input: long, args: []string{}, two: true},
		config{name: "parquet in transit", input: long, args: []string{"--format", "parquet"}},
	)
	got := make([][]result, len(configs))
	for r := range *rounds {
		fmt.Fprintf(os.Stderr, "round %d of %d\n", r+1, *rounds)
		for i, c := range configs {
			res, err := runOnce(bridge, baseline, work, inputs[c.input], c)
			if err != nil {
				fail(fmt.Errorf("%s, %s: %w", c.name, inputs[c.input], err))
			}
			got[i] = append(got[i], res)
		}
	}
	med := make([]result, len(configs))
	base := make([]float64, len(inputs))
	find := func(name string, input int) result {
		for i, c := range configs {
			if c.name == name && c.input == input {
				return med[i]
			}
		}
		return result{}
	}
	for i, c := range configs {
		med[i] = median(got[i])
		if c.args == nil {
			base[c.input] = med[i].perSec
		}
	}
	fmt.Printf("\nmedian of %d interleaved rounds; ratios are to the encoding/json baseline of the same input in this run\n\n", *rounds)
	fmt.Printf("%-36s %10s %12s %8s %12s\n", "configuration", "events", "items/s", "ratio", "peak memory")
	for i, c := range configs {
		label := c.name
		if c.args == nil {
			label = "baseline (encoding/json decode only)"
		}
		fmt.Printf("%-36s %10d %12.0f %7.2fx %8.1f MiB\n", label, med[i].items, med[i].perSec, med[i].perSec/base[c.input], med[i].peakMiB)
	}
	one := find("one process", long)
	fmt.Println()
	fmt.Printf("decoded from the stream / one process: %.2f\n", find("decoded from the stream", long).perSec/one.perSec)
	fmt.Printf("two processes / one process:           %.2f\n", find("two processes", long).perSec/one.perSec)
	fmt.Printf("parquet / typed jsonl in transit:      %.2f\n", find("parquet in transit", long).perSec/one.perSec)
	if *prefix != "" {
		s := find("one process", short)
		fmt.Printf("peak memory, %d vs %d events: %.2f\n", one.items, s.items, one.peakMiB/s.peakMiB)
	}
}

// runOnce runs c once and reads its figures from what it prints.
func runOnce(bridge, baseline, work, input string, c config) (result, error) {
	var cmd *exec.Cmd
	data := filepath.Join(work, "data")
	if c.two {
		if err := os.RemoveAll(data); err != nil {
			return result{}, err
		}
		return runTwo(bridge, data, input)
	}
	if c.args == nil {
		cmd = exec.Command(baseline, input)
	} else {
		if err := os.RemoveAll(data); err != nil {
			return result{}, err
		}
		args := append([]string{"run", "--input", input, "--table", "events", "--destination", "null",
			"--batch-size", "1000", "--data-dir", data, "--quiet"}, c.args...)
		cmd = exec.Command(bridge, args...)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = time.Second
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		return result{}, err
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return result{}, fmt.Errorf("%v: %w\n%s", cmd.Args, err, out.String())
		}
	case <-time.After(10 * time.Minute):
		_ = cmd.Process.Kill()
		<-done
		return result{}, fmt.Errorf("%v: no end after 10 minutes; is the machine busy?", cmd.Args)
	}
	text := out.String()
	if c.args == nil {
		m := reBaseline.FindStringSubmatch(text)
		if m == nil {
			return result{}, fmt.Errorf("no figures in the baseline's output:\n%s", text)
		}
		return result{items: atoi(m[1]), perSec: atof(m[2]), peakMiB: atof(m[3])}, nil
	}
	m, p := reLoad.FindStringSubmatch(text), rePeak.FindStringSubmatch(text)
	if m == nil || p == nil {
		return result{}, fmt.Errorf("no figures in bridge's output:\n%s", text)
	}
	return result{items: atoi(m[1]), perSec: atof(m[2]), peakMiB: atof(p[1])}, nil
}

// runTwo runs a worker (bridge serve, which starts the embedded server in
// data) and, once it serves, a producer (bridge produce, which joins that
// server) of input; it measures from the producer's start to the worker's
// metrics counting every line delivered, and the peak memory of both
// processes together.
func runTwo(bridge, data, input string) (result, error) {
	addr, err := freeAddr()
	if err != nil {
		return result{}, err
	}
	var serveOut bytes.Buffer
	serve := exec.Command(bridge, "serve", "--data-dir", data, "--pipeline", "bench", "--destination", "null",
		"--batch-size", "1000", "--quiet", "--metrics-addr", addr)
	serve.Stdout, serve.Stderr = &serveOut, &serveOut
	serve.WaitDelay = time.Second
	if err := serve.Start(); err != nil {
		return result{}, err
	}
	served := make(chan error, 1)
	go func() { served <- serve.Wait() }()
	stop := func() (*os.ProcessState, error) {
		_ = serve.Process.Signal(os.Interrupt)
		select {
		case <-served:
		case <-time.After(30 * time.Second):
			_ = serve.Process.Kill()
			<-served
			return nil, fmt.Errorf("bridge serve: no end 30 s after SIGINT\n%s", serveOut.String())
		}
		return serve.ProcessState, nil
	}
	// The worker serves (it is a member, so the load is kept for it) once
	// its metrics answer.
	if _, err := delivered(addr, 30*time.Second, -1); err != nil {
		_, _ = stop()
		return result{}, fmt.Errorf("bridge serve: %w\n%s", err, serveOut.String())
	}
	prod := exec.Command(bridge, "produce", "--data-dir", data, "--pipeline", "bench", "--input", input,
		"--table", "events", "--quiet")
	out, err := prod.CombinedOutput()
	exited := time.Now()
	m := reProduced.FindSubmatch(out)
	if err == nil && m == nil {
		err = fmt.Errorf("no figures in its output")
	}
	if err != nil {
		_, _ = stop()
		return result{}, fmt.Errorf("%v: %w\n%s", prod.Args, err, out)
	}
	// The load starts when the producer says it did (as bridge run counts
	// its own), so that neither counts starting a process; it ends when
	// the worker has delivered every item.
	items := atoi(string(m[1]))
	start := exited.Add(-time.Duration(atof(string(m[2])) * float64(time.Second)))
	_, err = delivered(addr, 10*time.Minute, items)
	took := time.Since(start)
	st, stopErr := stop()
	if err != nil {
		return result{}, fmt.Errorf("bridge serve: %w\n%s", err, serveOut.String())
	}
	if stopErr != nil {
		return result{}, stopErr
	}
	peak := maxRSS(prod.ProcessState) + maxRSS(st)
	return result{items: items, perSec: float64(items) / took.Seconds(), peakMiB: peak}, nil
}

// delivered polls the worker's metrics at addr until they answer and, for
// want >= 0, count want items delivered; it returns the count.
func delivered(addr string, within time.Duration, want int) (int, error) {
	deadline := time.Now().Add(within)
	client := &http.Client{Timeout: 5 * time.Second}
	for {
		n, err := deliveredNow(client, addr)
		if err == nil && n >= want {
			return n, nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("%d of %d items delivered after %v", n, want, within)
			}
			return n, fmt.Errorf("metrics at %s: %w", addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// deliveredNow reads bridge_items_delivered_total from the metrics at addr.
func deliveredNow(client *http.Client, addr string) (int, error) {
	resp, err := client.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	n := 0.0
	for _, l := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(l, "bridge_items_delivered_total{") {
			if i := strings.LastIndexByte(l, ' '); i > 0 {
				v, _ := strconv.ParseFloat(l[i+1:], 64)
				n += v
			}
		}
	}
	return int(n), nil
}

// freeAddr returns a loopback address with a port free just now.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// maxRSS returns the peak resident memory of a process that has ended, in
// MiB.
func maxRSS(st *os.ProcessState) float64 {
	if ru, ok := st.SysUsage().(*syscall.Rusage); ok {
		return float64(ru.Maxrss) / 1024 // KiB on Linux
	}
	return 0
}

// median returns, per figure, the median of rs.
func median(rs []result) result {
	pick := func(f func(result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		slices.Sort(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return result{
		items:   rs[0].items,
		perSec:  pick(func(r result) float64 { return r.perSec }),
		peakMiB: pick(func(r result) float64 { return r.peakMiB }),
	}
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func atof(s string) float64 {
	f, _ := strconv.ParseFloat(strings.ReplaceAll(s, ",", ""), 64)
	return f
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "report:", err)
	os.Exit(1)
}
