package exec_test

import (
	"bufio"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fanoutbridge/bridge/schema"
	"github.com/fanoutbridge/bridge/sinks/exec"
)

// newSink returns a Sink running the test binary as a child in mode (see
// child), and the directory where the children record what they receive.
// The sink is closed at the end of the test, and the test fails if that
// leaves a goroutine or a child behind.
func newSink(t testing.TB, mode string, change ...func(*exec.Config, *[]string)) (*exec.Sink, string) {
	t.Helper()
	dir := t.TempDir()
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// GORACE: a -race child otherwise sleeps a second before it exits.
	env := []string{envMode + "=" + mode, envDir + "=" + dir, "GORACE=atexit_sleep_ms=0"}
	cfg := exec.Config{Argv: []string{bin}, Timeout: 20 * time.Second}
	for _, c := range change {
		c(&cfg, &env)
	}
	cfg.Env = append(os.Environ(), env...)
	s, err := exec.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil && mode != "hang" {
			t.Errorf("Close: %v", err)
		}
		checkGone(t, dir)
		checkNoGoroutines(t)
	})
	return s, dir
}

// childPIDs returns the pids of every child that ran for dir.
func childPIDs(t testing.TB, dir string) []int {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, n := range names {
		pid, err := strconv.Atoi(strings.TrimSuffix(filepath.Base(n), ".jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, pid)
	}
	slices.Sort(pids)
	return pids
}

// checkGone fails the test if a child that ran for dir still exists.
func checkGone(t testing.TB, dir string) {
	t.Helper()
	for _, pid := range childPIDs(t, dir) {
		if processExists(pid) {
			t.Errorf("child %d still exists", pid)
		}
	}
}

// received returns every line the children of dir received, by child.
func received(t testing.TB, dir string) map[int][]string {
	t.Helper()
	out := map[int][]string{}
	for _, pid := range childPIDs(t, dir) {
		f, err := os.Open(filepath.Join(dir, strconv.Itoa(pid)+".jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 64<<20)
		for sc.Scan() {
			out[pid] = append(out[pid], sc.Text())
		}
		f.Close()
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// checkNoGoroutines waits up to 5s for every goroutine of the package to end.
func checkNoGoroutines(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var leaked []string
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "sinks/exec.") && !strings.Contains(g, "testing.tRunner") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines left running:\n\n%s", len(leaked), strings.Join(leaked, "\n\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ordersTable is the example table of docs/exec-protocol.md.
func ordersTable() *schema.Table {
	t := schema.NewTable("orders", "")
	t.Columns = []schema.Column{
		{Name: "id", DataType: schema.TypeBigInt, PrimaryKey: true},
		{Name: "customer", DataType: schema.TypeText, Nullable: true},
		{Name: "total", DataType: schema.TypeDecimal, Nullable: true},
		{Name: "paid", DataType: schema.TypeBool, Nullable: true},
		{Name: "weight", DataType: schema.TypeDouble, Nullable: true},
		{Name: "created_at", DataType: schema.TypeTimestamp, Nullable: true},
		{Name: "ship_on", DataType: schema.TypeDate, Nullable: true},
		{Name: "ship_at", DataType: schema.TypeTime, Nullable: true},
		{Name: "receipt", DataType: schema.TypeBinary, Nullable: true},
		{Name: "items", DataType: schema.TypeJSON, Nullable: true},
		{Name: "total__v_text", DataType: schema.TypeText, Nullable: true, Variant: true, Of: "total"},
	}
	return t
}

const ordersBatch = "shop.1718011800.123456.orders.0"

// ordersRows are the example rows of docs/exec-protocol.md.
func ordersRows() []schema.Row {
	return []schema.Row{
		{
			"id":         int64(1),
			"customer":   `Zoë "Z" Ng`,
			"total":      schema.MustDecimal("12.50"),
			"paid":       true,
			"weight":     1.0,
			"created_at": time.Date(2024, 6, 10, 11, 30, 0, 123456789, time.FixedZone("CEST", 2*3600)),
			"ship_on":    schema.Date{Year: 2024, Month: time.June, Day: 12},
			"ship_at":    schema.TimeOfDay{Hour: 14},
			"receipt":    []byte("%PDF-"),
			"items":      []any{map[string]any{"sku": "A-1", "qty": int64(2)}},
		},
		{
			"id":            int64(2),
			"customer":      "Bob",
			"paid":          false,
			"weight":        0.25,
			"created_at":    time.Date(2024, 6, 10, 10, 0, 0, 0, time.UTC),
			"items":         map[string]any{"gift": true},
			"total__v_text": "unknown",
		},
	}
}
