package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func runCLI(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	code = Main(ctx, args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func TestHelpTeaches(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"run", "--help"}, {"status", "--help"}, {"dlq", "--help"}, {"destinations", "--help"}, {"drop", "--help"}} {
		code, out, errOut := runCLI(t, "", args...)
		if code != 0 || !strings.Contains(out+errOut, "Usage") && !strings.Contains(out+errOut, "usage") {
			t.Errorf("%v: code %d, output %q", args, code, out+errOut)
		}
		// Every command's help has examples.
		if !strings.Contains(out+errOut, "Examples:\n  bridge ") {
			t.Errorf("%v: no examples:\n%s", args, out+errOut)
		}
	}
	_, runHelp, _ := runCLI(t, "", "run", "--help")
	for _, want := range []string{"rows per load file (default 10,000)", "--input /dev/null", "default 4"} {
		if !strings.Contains(runHelp, want) {
			t.Errorf("run --help lacks %q", want)
		}
	}
	_, usage, _ := runCLI(t, "", "--help")
	for _, want := range []string{"destinations remove NAME --yes", "dlq    dead-letter", "each destination"} {
		if !strings.Contains(usage, want) {
			t.Errorf("usage lacks %q", want)
		}
	}
	if code, _, errOut := runCLI(t, "", "run"); code != 2 || !strings.Contains(errOut, "--input is required") {
		t.Errorf("run without --input: code %d, %q", code, errOut)
	}
	if code, _, errOut := runCLI(t, "", "frobnicate"); code != 2 || !strings.Contains(errOut, "unknown command") {
		t.Errorf("unknown command: code %d, %q", code, errOut)
	}
	if code, _, errOut := runCLI(t, "", "run", "--input", "-", "--destination", "nowhere"); code != 2 || !strings.Contains(errOut, "registered") {
		t.Errorf("unknown destination: code %d, %q", code, errOut)
	}
}

func TestRunStdoutThenStatus(t *testing.T) {
	dir := t.TempDir()
	in := "{\"id\":1,\"userName\":\"a\"}\n{\"id\":2,\"userName\":\"b\"}\nnot json\n3\n"
	code, out, errOut := runCLI(t, in, "run", "--input", "-", "--table", "people", "--destination", "stdout",
		"--naming", "snake_case", "--data-dir", dir, "--pipeline", "clitest")
	if code != 1 || !strings.Contains(errOut, "line 3") {
		t.Fatalf("code %d (want 1 for the bad line), stderr %q", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("stdout %q: want 3 items", out)
	}
	var first struct {
		Table string         `json:"table"`
		Batch string         `json:"batch"`
		Item  map[string]any `json:"item"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if first.Table != "people" || first.Batch == "" || first.Item["user_name"] != "a" {
		t.Errorf("first line %q", lines[0])
	}
	if !strings.Contains(errOut, "published 3 items in 1 batch to 1 table") || !strings.Contains(errOut, "items/s") {
		t.Errorf("summary missing: %q", errOut)
	}
	code, out, errOut = runCLI(t, "", "status", "--data-dir", dir, "--pipeline", "clitest")
	if code != 0 || !strings.Contains(out, "stdout") || !strings.Contains(out, "completed") && !strings.Contains(out, "failed") {
		t.Fatalf("status: code %d\n%s\n%s", code, out, errOut)
	}
	code, out, _ = runCLI(t, "", "dlq", "list", "--data-dir", dir, "--pipeline", "clitest")
	if code != 0 || !strings.Contains(out, "0 dead letters") {
		t.Fatalf("dlq list: code %d\n%s", code, out)
	}
}

func TestRunFileDestination(t *testing.T) {
	dir, out := t.TempDir(), t.TempDir()
	input := filepath.Join(dir, "in.jsonl")
	var b strings.Builder
	for i := range 25 {
		b.WriteString(`{"id":` + strings.Repeat("1", 1) + `,"n":` + string(rune('0'+i%10)) + "}\n")
	}
	if err := os.WriteFile(input, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"typed-jsonl", "parquet"} {
		code, _, errOut := runCLI(t, "", "run", "--input", input, "--table", "t", "--destination", "file:"+filepath.Join(out, format),
			"--batch-size", "10", "--format", format, "--data-dir", filepath.Join(dir, format), "--quiet")
		if code != 0 {
			t.Fatalf("%s: code %d: %s", format, code, errOut)
		}
		files, _ := filepath.Glob(filepath.Join(out, format, "t", "*"))
		if len(files) != 3 {
			t.Errorf("%s: %d files %v, want 3 load files of up to 10 rows", format, len(files), files)
		}
	}
}

// exec:COMMAND hands every batch to an external program: here a Python one.
func TestRunExecDestination(t *testing.T) {
	py, err := osexec.LookPath("python3")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("python3 is required under CI")
		}
		t.Skip("no python3")
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "dest.py")
	out := filepath.Join(dir, "rows.jsonl")
	src := `import json, sys
with open(sys.argv[1], "a") as f:
    for line in sys.stdin:
        h = json.loads(line)
        for _ in range(h["rows"]):
            f.write(sys.stdin.readline())
        f.flush()
        print(json.dumps({"batch": h["batch"], "ok": True}), flush=True)
`
	if err := os.WriteFile(script, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	var in strings.Builder
	for i := range 25 {
		in.WriteString(`{"id":` + strconv.Itoa(i) + "}\n")
	}
	code, _, errOut := runCLI(t, in.String(), "run", "--input", "-", "--table", "t", "--batch-size", "10",
		"--destination", "exec:"+py+" "+script+" "+out, "--data-dir", filepath.Join(dir, "data"), "--quiet")
	if code != 0 {
		t.Fatalf("code %d: %s", code, errOut)
	}
	got, _ := os.ReadFile(out)
	if n := strings.Count(string(got), "\n"); n != 25 {
		t.Fatalf("the program got %d rows, want 25:\n%s", n, got)
	}
}

// Two destinations on one run: both get every item; each is a member
// named by its spec; removing one asks for --yes.
func TestRunFanOutAndDestinations(t *testing.T) {
	dir, out := t.TempDir(), t.TempDir()
	var in strings.Builder
	for i := range 25 {
		in.WriteString(`{"id":` + strconv.Itoa(i) + "}\n")
	}
	common := []string{"--data-dir", filepath.Join(dir, "data"), "--pipeline", "fan"}
	code, stdout, errOut := runCLI(t, in.String(), append([]string{"run", "--input", "-", "--table", "t", "--batch-size", "10",
		"--destination", "stdout", "--destination", "file:" + out, "--quiet"}, common...)...)
	if code != 0 {
		t.Fatalf("code %d: %s", code, errOut)
	}
	if n := strings.Count(stdout, "\n"); n != 25 {
		t.Errorf("stdout got %d items, want 25", n)
	}
	files, _ := filepath.Glob(filepath.Join(out, "t", "*"))
	if len(files) != 3 {
		t.Errorf("file destination: %d load files, want 3", len(files))
	}
	if !strings.Contains(errOut, `destination "stdout": delivered 25 items in 3 batches`) ||
		!strings.Contains(errOut, `destination "file:`+out+`": delivered 25 items in 3 batches`) {
		t.Errorf("summary lacks the destinations:\n%s", errOut)
	}
	code, stdout, errOut = runCLI(t, "", append([]string{"destinations", "list"}, common...)...)
	if code != 0 || !strings.Contains(stdout, "stdout") || !strings.Contains(stdout, "file:"+out) || !strings.Contains(stdout, "2 destinations") {
		t.Fatalf("destinations list: code %d\n%s\n%s", code, stdout, errOut)
	}
	if code, _, errOut := runCLI(t, "", append([]string{"destinations", "remove", "stdout"}, common...)...); code != 2 ||
		!strings.Contains(errOut, "it holds no batch") || !strings.Contains(errOut, "bridge destinations remove stdout --yes --pipeline fan --data-dir ") {
		t.Fatalf("remove without --yes: code %d, want 2 and what it drops: %s", code, errOut)
	}
	if code, _, errOut := runCLI(t, "", append([]string{"destinations", "remove", "stdout", "--yes"}, common...)...); code != 0 {
		t.Fatalf("remove: code %d: %s", code, errOut)
	}
	code, stdout, _ = runCLI(t, "", append([]string{"destinations", "list"}, common...)...)
	if code != 0 || strings.Contains(stdout, "stdout") || !strings.Contains(stdout, "1 destination\n") {
		t.Fatalf("after remove: code %d\n%s", code, stdout)
	}
}

func TestParseRetention(t *testing.T) {
	for in, want := range map[string]time.Duration{"7d": 7 * 24 * time.Hour, "36h": 36 * time.Hour, "1d12h": 36 * time.Hour} {
		if got, err := parseRetention(in); err != nil || got != want {
			t.Errorf("parseRetention(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "0", "x", "7x", "-1h", "d"} {
		if _, err := parseRetention(bad); err == nil {
			t.Errorf("parseRetention(%q): no error", bad)
		}
	}
}

// --max-crashes: a batch the program crashes on every time is dead-lettered
// as poison; the rest loads.
func TestExecPoisonBatch(t *testing.T) {
	py, err := osexec.LookPath("python3")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("python3 is required under CI")
		}
		t.Skip("no python3")
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "dest.py")
	out := filepath.Join(dir, "rows.jsonl")
	src := `import json, sys
with open(sys.argv[1], "a") as f:
    for line in sys.stdin:
        h = json.loads(line)
        rows = [sys.stdin.readline() for _ in range(h["rows"])]
        if any(json.loads(r)["id"] == 15 for r in rows):
            sys.exit(3)
        f.writelines(rows)
        f.flush()
        print(json.dumps({"batch": h["batch"], "ok": True}), flush=True)
`
	if err := os.WriteFile(script, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	var in strings.Builder
	for i := range 30 {
		in.WriteString(`{"id":` + strconv.Itoa(i) + "}\n")
	}
	common := []string{"--data-dir", filepath.Join(dir, "data"), "--pipeline", "poison"}
	code, _, errOut := runCLI(t, in.String(), append([]string{"run", "--input", "-", "--table", "t", "--batch-size", "10",
		"--destination", "exec:" + py + " " + script + " " + out, "--max-crashes", "2", "--max-parallel", "2", "--quiet"}, common...)...)
	if code != 1 || !strings.Contains(errOut, "poison") {
		t.Fatalf("code %d, want 1 with a poison dead letter: %s", code, errOut)
	}
	got, _ := os.ReadFile(out)
	if n := strings.Count(string(got), "\n"); n != 20 {
		t.Fatalf("the program took %d rows, want the 20 of the good batches", n)
	}
	code, stdout, _ := runCLI(t, "", append([]string{"dlq", "list"}, common...)...)
	if code != 0 || !strings.Contains(stdout, "1 dead letter\n") || !strings.Contains(stdout, "poison") {
		t.Fatalf("dlq list: code %d\n%s", code, stdout)
	}
}

// exec: as many copies of the program run as --max-parallel says, or as its
// own processes setting says (here in a pipeline config file).
func TestExecProcesses(t *testing.T) {
	py, err := osexec.LookPath("python3")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("python3 is required under CI")
		}
		t.Skip("no python3")
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "dest.py")
	src := `import json, os, sys, time
with open(sys.argv[1], "a") as f:
    for line in sys.stdin:
        h = json.loads(line)
        for _ in range(h["rows"]):
            sys.stdin.readline()
        time.sleep(0.05)
        f.write("%d\n" % os.getpid())
        f.flush()
        print(json.dumps({"batch": h["batch"], "ok": True}), flush=True)
`
	if err := os.WriteFile(script, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	var in strings.Builder
	for i := range 200 {
		in.WriteString(`{"id":` + strconv.Itoa(i) + "}\n")
	}
	pids := func(path string) int {
		b, _ := os.ReadFile(path)
		seen := map[string]bool{}
		for _, l := range strings.Fields(string(b)) {
			seen[l] = true
		}
		return len(seen)
	}
	for _, tc := range []struct {
		name string
		args func(out string) []string
		want int
	}{
		{"max-parallel", func(out string) []string {
			return []string{"--destination", "exec:" + py + " " + script + " " + out, "--max-parallel", "3"}
		}, 3},
		{"processes setting", func(out string) []string {
			cfg := filepath.Join(dir, "exec.toml")
			body := fmt.Sprintf("pipeline = \"procs\"\n\n[[destination]]\nspec = %q\nprocesses = 2\nmax_parallel = 8\n",
				"exec:"+py+" "+script+" "+out)
			if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			return []string{"--config", cfg}
		}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "pids")
			args := append([]string{"run", "--input", "-", "--table", "t", "--batch-size", "5", "--data-dir", t.TempDir(), "--quiet"}, tc.args(out)...)
			code, _, errOut := runCLI(t, in.String(), args...)
			if code != 0 {
				t.Fatalf("code %d: %s", code, errOut)
			}
			if n := pids(out); n != tc.want {
				t.Errorf("%d copies of the program ran, want %d", n, tc.want)
			}
		})
	}
}

// An exec destination whose program does not exist is a bad command line:
// exit 2 before anything is created.
func TestExecMissingProgramExit2(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	code, _, errOut := runCLI(t, "", "run", "--input", "-", "--destination", "exec:no-such-program-here --x", "--data-dir", dir, "--quiet")
	if code != 2 || !strings.Contains(errOut, "no-such-program-here") {
		t.Fatalf("code %d, want 2 naming the program: %s", code, errOut)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Errorf("the data directory was created for a command line that is wrong")
	}
}
