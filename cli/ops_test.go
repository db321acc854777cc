package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fanoutbridge/bridge"
	"github.com/fanoutbridge/bridge/internal/queuetest"
)

// Every invalid flag value exits 2 with a message that names the flag.
func TestInvalidFlagValuesExit2(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		flag string
	}{
		{"batch size", []string{"run", "--batch-size", "-1"}, "--batch-size"},
		{"format", []string{"run", "--format", "csv"}, "--format"},
		{"naming", []string{"run", "--naming", "camel"}, "--naming"},
		{"strategy", []string{"run", "--strategy", "fast"}, "--strategy"},
		{"log level", []string{"run", "--log-level", "loud"}, "--log-level"},
		{"log format", []string{"run", "--log-format", "xml"}, "--log-format"},
		{"pipeline", []string{"run", "--pipeline", "bad.name"}, "--pipeline"},
		{"unknown destination", []string{"run", "--destination", "nosuch"}, "--destination"},
		{"file without dir", []string{"run", "--destination", "file:"}, "--destination"},
		{"max parallel", []string{"run", "--max-parallel", "0"}, "--max-parallel"},
		{"keep loads", []string{"run", "--keep-loads", "0"}, "--keep-loads"},
		{"row cache", []string{"run", "--row-cache", "-1"}, "--row-cache"},
		{"shutdown timeout", []string{"run", "--shutdown-timeout", "-1s"}, "--shutdown-timeout"},
		{"max columns", []string{"run", "--max-columns", "-1"}, "--max-columns"},
		{"max nesting", []string{"run", "--max-nesting", "-1"}, "--max-nesting"},
		{"max retries", []string{"run", "--max-retries", "0"}, "--max-retries"},
		{"retention", []string{"run", "--retention", "soon"}, "--retention"},
		{"not a number", []string{"run", "--batch-size", "ten"}, `--batch-size "ten": want a whole number`},
		{"not a duration", []string{"run", "--flush-interval", "soon"}, `--flush-interval "soon": want a duration such as 200ms`},
		{"serve not a duration", []string{"serve", "--max-idle", "5"}, `--max-idle "5": want a duration such as 200ms`},
		{"not a boolean", []string{"run", "--backfill=maybe"}, `--backfill "maybe": want true or false`},
		{"unknown flag", []string{"run", "--nosuch"}, "unknown flag --nosuch"},
		{"batch bytes", []string{"run", "--batch-bytes", "1KiBs"}, `--batch-bytes "1KiBs": want a size such as`},
		{"batch bytes negative", []string{"run", "--batch-bytes", "-1"}, `--batch-bytes "-1": want a size`},
		{"produce format", []string{"produce", "--format", "csv"}, "--format"},
		{"produce keep loads", []string{"produce", "--keep-loads", "0"}, "--keep-loads"},
		{"serve max parallel", []string{"serve", "--max-parallel", "0"}, "--max-parallel"},
		{"serve strategy", []string{"serve", "--strategy", "fast"}, "--strategy"},
		{"serve shutdown timeout", []string{"serve", "--shutdown-timeout", "-1s"}, "--shutdown-timeout"},
		{"status pipeline", []string{"status", "--pipeline", "bad.name"}, "--pipeline"},
		{"dlq log level", []string{"dlq", "list", "--log-level", "loud"}, "--log-level"},
		{"schema pipeline", []string{"schema", "show", "--pipeline", "bad.name"}, "--pipeline"},
		{"nats url http", []string{"run", "--nats-url", "http://127.0.0.1:4222"}, `--nats-url: server 1 of 1 has scheme "http"`},
		{"nats url foo", []string{"status", "--nats-url", "foo://127.0.0.1:4222"}, `--nats-url: server 1 of 1 has scheme "foo"`},
		{"nats url list", []string{"serve", "--nats-url", "nats://127.0.0.1:4222,https://127.0.0.1:4222"}, `--nats-url: server 2 of 2 has scheme "https"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := slices.Clone(tc.args)
			if args[0] != "serve" && args[0] != "status" && args[0] != "dlq" && args[0] != "schema" {
				args = append(args, "--input", "-")
			}
			args = append(args, "--data-dir", t.TempDir(), "--quiet")
			if args[0] == "status" || args[0] == "dlq" || args[0] == "schema" {
				args = slices.DeleteFunc(args, func(a string) bool { return a == "--quiet" })
			}
			code, _, errOut := runCLI(t, "{\"id\":1}\n", args...)
			if code != 2 || !strings.Contains(errOut, tc.flag) {
				t.Fatalf("%v: exit %d, stderr %q; want 2 and a message naming %s", args, code, errOut, tc.flag)
			}
			if strings.Contains(errOut, "bridge: bridge:") || strings.Contains(errOut, "NewFileDestination") {
				t.Errorf("%v: stderr stutters or names Go code: %q", args, errOut)
			}
			if strings.Contains(errOut, "invalid value") || strings.Contains(errOut, " -"+strings.TrimLeft(tc.args[1], "-")) {
				t.Errorf("%v: stderr shows the flag package's words: %q", args, errOut)
			}
		})
	}
	t.Run("flag without value", func(t *testing.T) {
		code, _, errOut := runCLI(t, "", "status", "--pipeline")
		if code != 2 || !strings.HasPrefix(errOut, "bridge status: --pipeline needs a value\n") {
			t.Fatalf("status --pipeline: exit %d, stderr %q; want 2 and \"--pipeline needs a value\"", code, errOut)
		}
	})
	t.Run("no arguments", func(t *testing.T) {
		code, out, errOut := runCLI(t, "")
		if code != 2 || out != "" || !strings.Contains(errOut, "Usage:") {
			t.Fatalf("bridge with no arguments: exit %d, stdout %q, stderr %q; want 2 and the usage on stderr", code, out, errOut)
		}
	})
}

func TestJoinBoolValues(t *testing.T) {
	fs := newFlagSet("run", "", "", nil, nil)
	fs.Bool("quiet", false, "")
	fs.Bool("skip-dlt-columns", true, "")
	fs.String("table", "", "")
	for _, tc := range []struct{ in, want []string }{
		{[]string{"--quiet", "false"}, []string{"--quiet=false"}},
		{[]string{"-quiet", "1", "--skip-dlt-columns", "0"}, []string{"-quiet=1", "--skip-dlt-columns=0"}},
		{[]string{"--quiet", "--table", "true"}, []string{"--quiet", "--table", "true"}}, // a string flag's value
		{[]string{"--table", "false", "--quiet", "true"}, []string{"--table", "false", "--quiet=true"}},
		{[]string{"--quiet", "yes"}, []string{"--quiet", "yes"}}, // only true, false, 1, 0
		{[]string{"--quiet=false", "true"}, []string{"--quiet=false", "true"}},
		{[]string{"arg", "--quiet", "false"}, []string{"arg", "--quiet", "false"}}, // flags end at the first argument
		{[]string{"--", "--quiet", "false"}, []string{"--", "--quiet", "false"}},
		{[]string{"--nosuch", "false"}, []string{"--nosuch", "false"}},
	} {
		if got := joinBoolValues(fs.FlagSet, tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("joinBoolValues(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// --skip-dlt-columns false, --quiet false, --backfill true: a boolean
// flag takes its value as the next argument.
func TestBoolFlagSeparateValue(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := runCLI(t, "{\"id\":1}\n", "run", "--input", "-", "--table", "t", "--destination", "stdout",
		"--skip-dlt-columns", "false", "--backfill", "true", "--quiet", "false", "--data-dir", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, `"_dlt_id"`) {
		t.Errorf("--skip-dlt-columns false: the rows lack _dlt_id:\n%s", out)
	}
	if !strings.Contains(errOut, "items/s") {
		t.Errorf("--quiet false: no progress or summary:\n%s", errOut)
	}
	code, out, errOut = runCLI(t, "{\"id\":2}\n", "run", "--input", "-", "--table", "t", "--destination", "stdout",
		"--skip-dlt-columns", "true", "--quiet", "true", "--data-dir", dir)
	if code != 0 || strings.Contains(out, `"_dlt_id"`) || strings.Contains(errOut, "0s read") {
		t.Errorf("--skip-dlt-columns true --quiet true: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
}

// Every command's --help goes to stdout with exit 0, as does bridge help
// COMMAND.
func TestHelpGoesToStdout(t *testing.T) {
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for n := range commands {
			if !yield(n) {
				return
			}
		}
	}) {
		t.Run(name, func(t *testing.T) {
			code, out, errOut := runCLI(t, "", name, "--help")
			if code != 0 || errOut != "" || !strings.HasPrefix(out, "Usage: bridge "+name) || !strings.Contains(out, "Examples:\n  bridge "+name) {
				t.Fatalf("%s --help: exit %d\nstdout %q\nstderr %q", name, code, out, errOut)
			}
			// Options are listed as they are written: --flag.
			_, opts, _ := strings.Cut(out, "\nOptions:\n")
			for _, line := range strings.Split(opts, "\n") {
				if strings.HasPrefix(line, "  -") && !strings.HasPrefix(line, "  --") {
					t.Errorf("%s --help lists %q: want --flag", name, line)
				}
			}
			code, helpOut, errOut := runCLI(t, "", "help", name)
			if code != 0 || errOut != "" || helpOut != out {
				t.Fatalf("help %s: exit %d, stderr %q; stdout differs from %s --help:\n%s", name, code, errOut, name, helpOut)
			}
			code, helpOut, errOut = runCLI(t, "", "help", name, "--help")
			if code != 0 || errOut != "" || helpOut != out {
				t.Fatalf("help %s --help: exit %d, stderr %q; stdout differs from %s --help:\n%s", name, code, errOut, name, helpOut)
			}
		})
	}
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}, {"help", "--help"}, {"help", "-h"}} {
		if code, out, errOut := runCLI(t, "", args...); code != 0 || errOut != "" || !strings.Contains(out, "Exit status:") {
			t.Errorf("%v: exit %d, stderr %q, stdout %q", args, code, errOut, out)
		}
	}
	if code, _, errOut := runCLI(t, "", "help", "nosuch"); code != 2 || !strings.Contains(errOut, `no command "nosuch"`) {
		t.Errorf("help nosuch: exit %d, %q", code, errOut)
	}
}

// A missing or unreadable --input is a usage error (exit 2) that shows the
// path and what the system said.
func TestMissingInputExit2(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.jsonl")
	for _, tc := range []struct {
		cmd, path, why string
	}{
		{"run", missing, "no such file or directory"},
		{"produce", missing, "no such file or directory"},
		{"run", dir, "is a directory"},
	} {
		code, _, errOut := runCLI(t, "", tc.cmd, "--input", tc.path, "--data-dir", filepath.Join(dir, "data"), "--quiet")
		want := fmt.Sprintf("bridge %s: --input %q: %s", tc.cmd, tc.path, tc.why)
		if code != 2 || !strings.Contains(errOut, want) {
			t.Errorf("%s --input %s: exit %d, stderr %q; want 2 and %q", tc.cmd, tc.path, code, errOut, want)
		}
	}
}

func TestVersion(t *testing.T) {
	code, out, errOut := runCLI(t, "", "version")
	if code != 0 || errOut != "" || !strings.HasPrefix(out, "bridge ") || !strings.Contains(out, runtime.Version()) {
		t.Fatalf("version: exit %d\nstdout %q\nstderr %q", code, out, errOut)
	}
	for _, tc := range []struct {
		name string
		bi   *debug.BuildInfo
		want []string
	}{
		{"release", &debug.BuildInfo{GoVersion: "go1.99", Main: debug.Module{Path: modulePath, Version: "v1.2.3"}},
			[]string{"bridge v1.2.3\n", "go1.99 "}},
		{"checkout", &debug.BuildInfo{GoVersion: "go1.99", Main: debug.Module{Path: modulePath, Version: "(devel)"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.time", Value: "2025-01-02T03:04:05Z"}, {Key: "vcs.modified", Value: "true"}}},
			[]string{"bridge (devel) (revision abc123, committed 2025-01-02T03:04:05Z, with uncommitted changes)\n"}},
		{"dependency", &debug.BuildInfo{GoVersion: "go1.99", Main: debug.Module{Path: "example.com/mybridge", Version: "(devel)"},
			Deps: []*debug.Module{{Path: modulePath, Version: "v0.4.0"}}},
			[]string{"bridge v0.4.0\n"}},
	} {
		got := versionText(tc.bi, true)
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: %q lacks %q", tc.name, got, w)
			}
		}
	}
}

var registerRejectOnce sync.Once

// rejectbad is a destination that rejects terminally every batch holding a
// row with "bad": true, with an error longer than dlq list shows.
func registerReject() {
	registerRejectOnce.Do(func() {
		must(bridge.Register("rejectbad", func(arg string, opts ...bridge.Option) (*bridge.Destination, error) {
			return bridge.NewDestination("rejectbad", func(ctx context.Context, rows []bridge.Row, t bridge.Table) error {
				for _, r := range rows {
					if r["bad"] == true {
						return bridge.Terminal(fmt.Errorf("row %v of table %s was refused by the remote API: %s END-OF-ERROR",
							r["id"], t.Name, strings.Repeat("validation detail; ", 10)))
					}
				}
				return nil
			}, opts...), nil
		}))
	})
}

func lines(from, to, bad int) string {
	var b strings.Builder
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, `{"id":%d,"name":"n%d","bad":%v}`+"\n", i, i, i == bad)
	}
	return b.String()
}

func statusJSONFor(t *testing.T, common []string) statusJSON {
	t.Helper()
	code, out, errOut := runCLI(t, "", append([]string{"status", "--json"}, common...)...)
	if code != 0 {
		t.Fatalf("status --json: exit %d: %s", code, errOut)
	}
	var s statusJSON
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("status --json: %v:\n%s", err, out)
	}
	return s
}

// A destination that rejects a batch terminally: status --json counts the
// dead letter, dlq show prints its full error and its rows, and purge
// without --yes deletes nothing and exits 2.
func TestDeadLetterShowStatusJSONPurge(t *testing.T) {
	registerReject()
	for _, format := range []string{"typed-jsonl", "parquet"} {
		t.Run(format, func(t *testing.T) {
			common := []string{"--data-dir", filepath.Join(t.TempDir(), "data"), "--pipeline", "dead"}
			run := append([]string{"run", "--input", "-", "--table", "t", "--destination", "rejectbad", "--batch-size", "10",
				"--format", format, "--quiet"}, common...)
			if code, _, errOut := runCLI(t, lines(0, 20, -1), run...); code != 0 {
				t.Fatalf("first run: exit %d: %s", code, errOut)
			}
			s := statusJSONFor(t, common)
			if len(s.Destinations) != 1 {
				t.Fatalf("status: %+v", s)
			}
			d := s.Destinations[0]
			if d.Name != "rejectbad" || d.Pending != 0 || d.InFlight != 0 || d.DeadLetters != 0 ||
				d.Delivered != (countsJSON{Items: 20, Batches: 2}) {
				t.Errorf("status after a clean load: %+v", d)
			}
			if len(s.Loads) != 1 || s.Loads[0].Status != "completed" || s.Loads[0].Produced["t"].Items != 20 {
				t.Errorf("loads after a clean load: %+v", s.Loads)
			}

			code, _, errOut := runCLI(t, lines(100, 125, 113), run...)
			if code != 1 || !strings.Contains(errOut, "dead-letter") {
				t.Fatalf("second run: exit %d, want 1 with a dead letter: %s", code, errOut)
			}
			// Its last line says how to list and replay them, on the command line.
			last := errOut[strings.LastIndex(strings.TrimSpace(errOut), "\n")+1:]
			if !strings.Contains(last, "`bridge dlq list --pipeline dead`") || !strings.Contains(last, "`bridge dlq replay --pipeline dead`") {
				t.Errorf("second run's last line %q: want the bridge dlq commands", last)
			}
			s = statusJSONFor(t, common)
			d = s.Destinations[0]
			if d.Pending != 0 || d.InFlight != 0 || d.DeadLetters != 1 || d.Delivered != (countsJSON{Items: 35, Batches: 4, DeadLetters: 1}) {
				t.Errorf("status after a dead letter: %+v", d)
			}
			if len(s.Tables) != 1 || s.Tables[0] != (tableStatusJSON{Name: "t", DeadLetters: 1}) || s.DeadLettersOf["rejectbad"] != 1 {
				t.Errorf("status tables after a dead letter: %+v, %v", s.Tables, s.DeadLettersOf)
			}

			code, out, errOut := runCLI(t, "", append([]string{"dlq", "show", "--destination", "rejectbad", "--table", "t"}, common...)...)
			if code != 0 {
				t.Fatalf("dlq show: exit %d: %s", code, errOut)
			}
			for _, want := range []string{"reason:      terminal", "attempts:    1", "END-OF-ERROR", "rows (10 rows, JSON lines):", "1 dead letter\n"} {
				if !strings.Contains(out, want) {
					t.Errorf("dlq show lacks %q:\n%s", want, out)
				}
			}
			var ids []int
			for _, line := range strings.Split(out, "\n") {
				if !strings.HasPrefix(line, "{") {
					continue
				}
				var row struct {
					ID   int    `json:"id"`
					Name string `json:"name"`
				}
				if err := json.Unmarshal([]byte(line), &row); err != nil {
					t.Fatalf("row %q: %v", line, err)
				}
				if row.Name != "n"+strconv.Itoa(row.ID) {
					t.Errorf("row %q", line)
				}
				ids = append(ids, row.ID)
			}
			if want := []int{110, 111, 112, 113, 114, 115, 116, 117, 118, 119}; !slices.Equal(ids, want) {
				t.Errorf("dlq show rows %v, want %v", ids, want)
			}

			code, out, errOut = runCLI(t, "", append([]string{"dlq", "purge", "--destination", "rejectbad"}, common...)...)
			if code != 2 || out != "" || !strings.Contains(errOut, "deletes 1 dead letter") || !strings.Contains(errOut, "--yes") {
				t.Fatalf("purge without --yes: exit %d\nstdout %q\nstderr %q", code, out, errOut)
			}
			if s := statusJSONFor(t, common); s.Destinations[0].DeadLetters != 1 {
				t.Fatalf("purge without --yes deleted: %+v", s.Destinations[0])
			}
			code, out, errOut = runCLI(t, "", append([]string{"dlq", "purge", "--destination", "rejectbad", "--yes"}, common...)...)
			if code != 0 || !strings.Contains(out, "purged 1 dead letter") {
				t.Fatalf("purge --yes: exit %d\n%s\n%s", code, out, errOut)
			}
			if s := statusJSONFor(t, common); s.Destinations[0].DeadLetters != 0 || s.Destinations[0].Delivered.DeadLetters != 1 {
				t.Fatalf("after purge: %+v", s.Destinations[0])
			}
		})
	}
}

// schema show --json after a load with nesting: the child tables and every
// column's type.
func TestSchemaShowNested(t *testing.T) {
	common := []string{"--data-dir", filepath.Join(t.TempDir(), "data"), "--pipeline", "nested"}
	in := `{"id":1,"name":"a","price":1.5,"items":[{"sku":"x","qty":2,"tags":["a","b"]}]}` + "\n" +
		`{"id":2,"name":"b","price":2,"items":[]}` + "\n"
	code, _, errOut := runCLI(t, in, append([]string{"run", "--input", "-", "--table", "orders", "--max-nesting", "1",
		"--destination", "null", "--quiet"}, common...)...)
	if code != 0 {
		t.Fatalf("run: exit %d: %s", code, errOut)
	}
	code, out, errOut := runCLI(t, "", append([]string{"schema", "show", "--json"}, common...)...)
	if code != 0 {
		t.Fatalf("schema show: exit %d: %s", code, errOut)
	}
	var sc schemaJSON
	if err := json.Unmarshal([]byte(out), &sc); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if sc.Pipeline != "nested" || sc.Version < 1 {
		t.Errorf("pipeline %q, version %d", sc.Pipeline, sc.Version)
	}
	types := map[string]map[string]string{}
	parents := map[string]string{}
	for _, tb := range sc.Tables {
		types[tb.Name] = map[string]string{}
		parents[tb.Name] = tb.Parent
		for _, c := range tb.Columns {
			types[tb.Name][c.Name] = c.DataType
			if strings.HasPrefix(c.Name, "_dlt_") != c.System {
				t.Errorf("table %s column %s: system %v", tb.Name, c.Name, c.System)
			}
		}
	}
	want := map[string]map[string]string{
		"orders":        {"id": "bigint", "name": "text", "price": "double"},
		"orders__items": {"sku": "text", "qty": "bigint", "tags": "json"},
	}
	for table, cols := range want {
		for col, typ := range cols {
			if got := types[table][col]; got != typ {
				t.Errorf("table %s column %s: type %q, want %q (schema %s)", table, col, got, typ, out)
			}
		}
	}
	if parents["orders__items"] != "orders" {
		t.Errorf("orders__items: parent %q", parents["orders__items"])
	}
	code, text, _ := runCLI(t, "", append([]string{"schema", "show"}, common...)...)
	if code != 0 || !strings.Contains(text, `table "orders__items" (child of "orders")`) || !strings.Contains(text, "sku") {
		t.Errorf("schema show: exit %d\n%s", code, text)
	}
	if code, _, errOut := runCLI(t, "", append([]string{"schema", "show", "--table", "nosuch"}, common...)...); code != 2 || !strings.Contains(errOut, "--table") {
		t.Errorf("schema show --table nosuch: exit %d, %q", code, errOut)
	}
}

// Logs in JSON (the default off a terminal, and --log-format json) parse
// line by line and never show the password of --nats-url.
func TestJSONLogsHideNATSPassword(t *testing.T) {
	url := queuetest.External(t)
	const pw = "s3cretPW"
	withPW := strings.Replace(url, "nats://", "nats://alice:"+pw+"@", 1)
	name := queuetest.UniqueName("logs")
	common := []string{"--nats-url", withPW, "--pipeline", name, "--log-level", "debug"}
	t.Cleanup(func() { runCLI(t, "", append([]string{"drop", "--yes"}, common...)...) })
	for _, format := range []string{"json", ""} {
		args := append([]string{"run", "--input", "-", "--table", "t", "--destination", "null", "--quiet"}, common...)
		if format != "" {
			args = append(args, "--log-format", format)
		}
		code, out, errOut := runCLI(t, lines(0, 30, -1), args...)
		if code != 0 {
			t.Fatalf("--log-format %q: exit %d: %s", format, code, errOut)
		}
		if strings.Contains(out+errOut, pw) {
			t.Fatalf("--log-format %q: the password is in the output:\n%s\n%s", format, out, errOut)
		}
		logs := 0
		for _, line := range strings.Split(errOut, "\n") {
			if !strings.HasPrefix(line, "{") {
				continue
			}
			var entry map[string]any
			if err := json.Unmarshal([]byte(line), &entry); err != nil {
				t.Fatalf("--log-format %q: log line %q: %v", format, line, err)
			}
			if entry["level"] == nil || entry["msg"] == nil {
				t.Errorf("log line %q lacks level or msg", line)
			}
			logs++
		}
		if logs == 0 {
			t.Fatalf("--log-format %q: no JSON log line at debug level:\n%s", format, errOut)
		}
	}
	code, _, errOut := runCLI(t, "", append([]string{"status", "--log-format", "console"}, common...)...)
	if code != 0 || strings.Contains(errOut, pw) || strings.HasPrefix(errOut, "{") {
		t.Fatalf("status --log-format console: exit %d: %s", code, errOut)
	}
}

// An unreachable --nats-url says what to do: check the server, or drop the
// flag for the embedded server.
func TestUnreachableNATSSaysWhatToDo(t *testing.T) {
	for _, args := range [][]string{
		{"status"},
		{"run", "--input", "-", "--table", "t", "--destination", "null", "--quiet"},
	} {
		code, _, errOut := runCLI(t, "{\"id\":1}\n", append(args, "--nats-url", "nats://127.0.0.1:1")...)
		if code != 1 || !strings.Contains(errOut, "connect to NATS nats://127.0.0.1:1") ||
			!strings.Contains(errOut, "check that a NATS server runs there") || !strings.Contains(errOut, "drop --nats-url") {
			t.Errorf("%s with an unreachable --nats-url: exit %d, stderr %q; want 1, the URL and what to do", args[0], code, errOut)
		}
	}
}

// --batch-bytes takes units, as --max-record-size does: 50 rows of about
// 110 bytes cut at 1KiB make several batches, not one.
func TestBatchBytesTakesUnits(t *testing.T) {
	var in strings.Builder
	for i := range 50 {
		fmt.Fprintf(&in, `{"id":%d,"pad":%q}`+"\n", i, strings.Repeat("x", 100))
	}
	code, out, errOut := runCLI(t, in.String(), "run", "--input", "-", "--table", "t", "--destination", "null", "--batch-size", "1000",
		"--batch-bytes", "1KiB", "--data-dir", t.TempDir(), "--quiet")
	if code != 0 {
		t.Fatalf("--batch-bytes 1KiB: exit %d: %s", code, errOut)
	}
	if !strings.Contains(out+errOut, "published 50 items in ") || strings.Contains(out+errOut, "published 50 items in 1 batch ") {
		t.Fatalf("--batch-bytes 1KiB: want 50 items in several batches:\n%s\n%s", out, errOut)
	}
}

// serve's summary separates destinations with "; " and ends without one.
func TestServeSummary(t *testing.T) {
	info := &bridge.ServeInfo{Elapsed: 65600 * time.Millisecond, Destinations: map[string]bridge.DestinationInfo{
		"stdout": {Delivered: map[string]bridge.TableInfo{"a": {Items: 100, Batches: 30}, "b": {Items: 59, Batches: 12}}},
		"crm":    {Delivered: map[string]bridge.TableInfo{"a": {Items: 1, Batches: 1, DeadLetters: 2}}},
	}}
	want := `served 65.6s: destination "crm" delivered 1 item in 1 batch (2 dead-lettered); destination "stdout" delivered 159 items in 42 batches`
	if got := serveSummary(info); got != want {
		t.Errorf("serveSummary:\n got %s\nwant %s", got, want)
	}
	if got := serveSummary(&bridge.ServeInfo{Elapsed: time.Second}); got != "served 1.0s" {
		t.Errorf("serveSummary without destinations: %q", got)
	}
}
