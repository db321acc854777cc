package exec_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// The tests run this test binary itself as the destination program: with
// BRIDGE_EXEC_TEST_MODE set, TestMain runs child instead of the tests.
const (
	envMode  = "BRIDGE_EXEC_TEST_MODE"  // how the child behaves, see child
	envDir   = "BRIDGE_EXEC_TEST_DIR"   // where it records what it received: <pid>.jsonl
	envOnce  = "BRIDGE_EXEC_TEST_ONCE"  // "1": misbehave at the first batch only (of all children)
	envDelay = "BRIDGE_EXEC_TEST_DELAY" // a duration to wait before each answer
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(envMode); mode != "" {
		os.Exit(child(mode))
	}
	os.Exit(m.Run())
}

// child is a tiny destination. It appends every line it reads to
// $BRIDGE_EXEC_TEST_DIR/<pid>.jsonl (created at start, so the file names
// list every child that ran) and answers by mode:
//
//	ok        answers ok
//	fail      answers a transient error
//	terminal  answers a terminal error
//	crash     exits with status 3 after the first row
//	garbage   answers a line that is not JSON
//	wrong-id  answers ok for another batch
//	slow      never answers
//	deaf      reads the header, then neither reads nor answers
//	exit-now  exits with status 4 before reading anything
//	one-shot  answers ok, then exits
//	stderr    writes lines to stderr, one of them in two writes, then answers ok
//	hang      answers ok, but does not exit at the end of stdin
func child(mode string) int {
	dir := os.Getenv(envDir)
	rec, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(os.Getpid())+".jsonl"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer rec.Close()
	if mode == "exit-now" {
		fmt.Fprintln(os.Stderr, "giving up before reading")
		return 4
	}
	delay, _ := time.ParseDuration(os.Getenv(envDelay))
	in := bufio.NewReaderSize(os.Stdin, 1<<20)
	out := bufio.NewWriter(os.Stdout)
	answer := func(v any) {
		b, _ := json.Marshal(v)
		out.Write(append(b, '\n'))
		out.Flush()
	}
	for {
		header, err := in.ReadString('\n')
		if err == io.EOF && header == "" {
			if mode == "hang" {
				time.Sleep(time.Hour)
			}
			return 0
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "read header:", err)
			return 1
		}
		rec.WriteString(header)
		var h struct {
			Batch string `json:"batch"`
			Rows  int    `json:"rows"`
		}
		if err := json.Unmarshal([]byte(header), &h); err != nil {
			fmt.Fprintln(os.Stderr, "bad header:", err)
			return 1
		}
		act := mode
		if os.Getenv(envOnce) == "1" && !first(dir) {
			act = "ok"
		}
		if act == "deaf" {
			time.Sleep(time.Hour)
		}
		for i := range h.Rows {
			row, err := in.ReadString('\n')
			if err != nil {
				fmt.Fprintln(os.Stderr, "read row:", err)
				return 1
			}
			rec.WriteString(row)
			if act == "crash" && i == 0 {
				fmt.Fprintln(os.Stderr, "crashing on purpose")
				return 3
			}
		}
		time.Sleep(delay)
		switch act {
		case "ok", "one-shot", "hang":
			answer(map[string]any{"batch": h.Batch, "ok": true})
			if act == "one-shot" {
				return 0
			}
		case "fail":
			answer(map[string]any{"batch": h.Batch, "error": "try again later"})
		case "terminal":
			answer(map[string]any{"batch": h.Batch, "error": "bad data", "terminal": true})
		case "garbage":
			out.WriteString("this is not json\n")
			out.Flush()
		case "wrong-id":
			answer(map[string]any{"batch": h.Batch + "-other", "ok": true})
		case "slow":
			time.Sleep(time.Hour)
		case "stderr":
			os.Stderr.WriteString("line one\npart a ")
			time.Sleep(50 * time.Millisecond)
			os.Stderr.WriteString("part b\nline three\n")
			answer(map[string]any{"batch": h.Batch, "ok": true})
		default:
			fmt.Fprintln(os.Stderr, "unknown mode", mode)
			return 1
		}
	}
}

// first reports whether this is the first batch any child has seen.
func first(dir string) bool {
	f, err := os.OpenFile(filepath.Join(dir, "once"), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return false
	}
	f.Close()
	return true
}
