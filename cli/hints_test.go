package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/fanoutbridge/bridge"
	"github.com/fanoutbridge/bridge/internal/queuetest"
)

func TestCommandHint(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    common
		args []string
		want string
		note bool
	}{
		{"defaults", common{pipeline: "bridge"}, []string{"dlq", "list"}, "bridge dlq list", false},
		{"quoted destination", common{pipeline: "p", dataDir: "/tmp/my data"}, []string{"dlq", "replay", "--destination", "file:/tmp/a b"},
			"bridge dlq replay --destination 'file:/tmp/a b' --pipeline p --data-dir '/tmp/my data'", false},
		{"quote in a name", common{pipeline: "bridge"}, []string{"run", "--destination", "exec:echo 'hi'"},
			`bridge run --destination 'exec:echo '\''hi'\'''`, false},
		{"plain url", common{pipeline: "bridge", natsURL: "nats://127.0.0.1:4222"}, []string{"status"},
			"bridge status --nats-url nats://127.0.0.1:4222", false},
		{"password", common{pipeline: "bridge", natsURL: "nats://alice:s3cret@host:4222"}, []string{"status"},
			"bridge status --nats-url nats://REDACTED@host:4222", true},
		{"creds", common{pipeline: "bridge", natsURL: "tls://host", creds: "/etc/u.creds"}, []string{"status"},
			"bridge status --nats-url tls://host --nats-creds /etc/u.creds", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.c.command(tc.args...); got != tc.want {
				t.Errorf("command = %s\nwant      %s", got, tc.want)
			}
			if got := tc.c.passwordNote() != ""; got != tc.note {
				t.Errorf("passwordNote given: %v, want %v", got, tc.note)
			}
			if strings.Contains(tc.c.command(tc.args...), "s3cret") {
				t.Error("the password is in the hint")
			}
		})
	}
}

// shellWords splits a hint as a POSIX shell would (plain words and single
// quotes, all shellQuote writes).
func shellWords(t *testing.T, line string) []string {
	t.Helper()
	var words []string
	var cur strings.Builder
	in, started := false, false
	for _, r := range line {
		switch {
		case r == '\'':
			in, started = !in, true
		case r == ' ' && !in:
			if started {
				words = append(words, cur.String())
				cur.Reset()
				started = false
			}
		default:
			cur.WriteRune(r)
			started = true
		}
	}
	if in {
		t.Fatalf("unbalanced quotes in %q", line)
	}
	if started {
		words = append(words, cur.String())
	}
	return words
}

// hintAfter returns the command on the line after the first line of out
// that contains marker, as arguments for Main.
func hintAfter(t *testing.T, out, marker, prefix string) []string {
	t.Helper()
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		if strings.Contains(l, marker) {
			for _, h := range lines[i+1:] {
				if h = strings.TrimSpace(h); strings.HasPrefix(h, prefix) {
					w := shellWords(t, h)
					return w[1:]
				}
			}
		}
	}
	t.Fatalf("no hint %q after %q in:\n%s", prefix, marker, out)
	return nil
}

// Fan-out with a destination whose name needs quoting: the summary of a run
// that does not serve it, status and destinations remove say what it holds
// and print commands that work when pasted; names that do not exist exit 2
// naming those that do; a pending-only run is marked so in the history.
func TestFanOutHintsWork(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "a b")
	input := filepath.Join(dir, "in.jsonl")
	writeIDs(t, input, 0, 12)
	common := []string{"--data-dir", filepath.Join(dir, "my data"), "--pipeline", "hints"}
	fileDest := "file:" + out
	code, _, errOut := runCLI(t, "", append([]string{"run", "--input", input, "--table", "t", "--batch-size", "5",
		"--destination", "stdout", "--destination", fileDest, "--quiet"}, common...)...)
	if code != 0 {
		t.Fatalf("first run: %d %s", code, errOut)
	}
	code, _, errOut = runCLI(t, "", append([]string{"run", "--input", input, "--table", "t", "--batch-size", "5", "--destination", "null", "--quiet"}, common...)...)
	if code != 0 {
		t.Fatalf("run with null: %d %s", code, errOut)
	}
	for _, want := range []string{
		`destination "stdout" of this pipeline did not run here and holds 3 batches (this load's among them)`,
		`destination "` + fileDest + `" of this pipeline did not run here and holds 3 batches`,
		`bridge run --input /dev/null --destination '` + fileDest + `' --pipeline hints --data-dir '` + filepath.Join(dir, "my data") + `'`,
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("summary lacks %q:\n%s", want, errOut)
		}
	}
	if strings.Contains(errOut, "WARN") {
		t.Errorf("summary has a raw log line:\n%s", errOut)
	}

	code, status, _ := runCLI(t, "", append([]string{"status"}, common...)...)
	if code != 0 || !strings.Contains(status, `note: the stream holds 3 batches for destination "stdout", not yet delivered to it`) {
		t.Fatalf("status: %d\n%s", code, status)
	}

	code, _, errOut = runCLI(t, "", append([]string{"destinations", "remove", "stdout"}, common...)...)
	if code != 2 || !strings.Contains(errOut, "still holds 3 batches (up to 12 rows)") {
		t.Fatalf("remove without --yes: %d %s", code, errOut)
	}
	for _, args := range [][]string{{"destinations", "remove", "nosuch", "--yes"}, {"dlq", "replay", "--destination", "nosuch"}, {"dlq", "list", "--destination", "nosuch"}} {
		code, _, errOut := runCLI(t, "", append(args, common...)...)
		if code != 2 || !strings.Contains(errOut, `no destination "nosuch" (destinations: "`+fileDest+`", "null", "stdout")`) {
			t.Errorf("%v: exit %d, %s", args, code, errOut)
		}
	}

	// Paste the summary's hint for the file destination: it delivers only what is pending.
	code, _, errOut = runCLI(t, "", append([]string{"run", "--input", input, "--table", "t", "--batch-size", "5", "--destination", "null", "--quiet"}, common...)...)
	if code != 0 {
		t.Fatal(errOut)
	}
	args := hintAfter(t, errOut, `destination "`+fileDest+`"`, "bridge run")
	code, _, errOut = runCLI(t, "", append(args, "--quiet")...)
	if code != 0 || !strings.Contains(errOut, "pending-only run (no input)") {
		t.Fatalf("pasted %v: %d %s", args, code, errOut)
	}
	files, _ := filepath.Glob(filepath.Join(out, "t", "*"))
	if len(files) != 9 {
		t.Errorf("file destination has %d load files, want 9 (3 loads of 12 items in files of 5 rows)", len(files))
	}
	code, status, _ = runCLI(t, "", append([]string{"status"}, common...)...)
	if code != 0 || !strings.Contains(status, " pending-only ") || strings.Contains(status, `destination "`+fileDest+`"`) {
		t.Fatalf("status after the pending-only run:\n%s", status)
	}
}

var registerFailOn sync.Once

// failOn is the destination "failon:ID": it fails (transiently) every call
// with the item whose id is ID.
func failOn(id string, opts ...bridge.Option) (*bridge.Destination, error) {
	return bridge.NewDestination("failon:"+id, func(ctx context.Context, items []bridge.Row, _ bridge.Table) error {
		for _, it := range items {
			if fmt.Sprint(it["id"]) == id {
				return errors.New("will not take id " + id)
			}
		}
		return nil
	}, opts...), nil
}

// A batch that blocks its table: the run's summary says how to set it aside;
// pasting that sets it aside, the next run delivers the rest, status counts
// the dead letter and stops counting it once it is replayed.
func TestDeadLetterBlockingBatch(t *testing.T) {
	registerFuncs := func() { must(bridge.Register("failon", failOn)) }
	registerFailOn.Do(registerFuncs)
	dir := t.TempDir()
	input := filepath.Join(dir, "in.jsonl")
	writeIDs(t, input, 0, 15)
	common := []string{"--data-dir", filepath.Join(dir, "data"), "--pipeline", "blocked"}
	code, _, errOut := runCLI(t, "", append([]string{"run", "--input", input, "--table", "t", "--batch-size", "5",
		"--destination", "failon:7", "--strategy", "table-sequential", "--max-retries", "1", "--quiet"}, common...)...)
	if code != 1 || !strings.Contains(errOut, "stays pending") {
		t.Fatalf("run: %d, want 1:\n%s", code, errOut)
	}
	if strings.Contains(errOut, "bridge: bridge:") || strings.Contains(errOut, ": bridge: ") {
		t.Errorf("doubled prefix:\n%s", errOut)
	}
	args := hintAfter(t, errOut, "to set it aside", "bridge dlq dead-letter")
	batch := args[slicesIndex(args, "--batch")+1]
	if code, out, errOut := runCLI(t, "", append(args[:len(args):len(args)], "--reason", "id 7 is bad")...); code != 0 || !strings.Contains(out, "is set aside") {
		t.Fatalf("pasted %v: %d\n%s\n%s", args, code, out, errOut)
	}
	if code, _, errOut := runCLI(t, "", append([]string{"dlq", "dead-letter", "--destination", "failon:7", "--batch", "nosuch", "--yes"}, common...)...); code != 2 ||
		!strings.Contains(errOut, "no such pending batch") {
		t.Errorf("unknown batch: %d %s", code, errOut)
	}
	if code, _, errOut := runCLI(t, "", append([]string{"dlq", "dead-letter", "--destination", "failon:7", "--batch", batch}, common...)...); code != 2 ||
		!strings.Contains(errOut, "say --yes") {
		t.Errorf("without --yes: %d %s", code, errOut)
	}
	code, _, errOut = runCLI(t, "", append([]string{"run", "--input", "/dev/null", "--destination", "failon:7", "--quiet"}, common...)...)
	// The first run delivered ids 0-4; 5-9 are set aside; 10-14 come now.
	if code != 0 || !strings.Contains(errOut, `destination "failon:7": delivered 5 items in 1 batch`) {
		t.Fatalf("run after setting it aside: %d\n%s", code, errOut)
	}
	code, out, _ := runCLI(t, "", append([]string{"dlq", "list"}, common...)...)
	if code != 0 || !strings.Contains(out, batch) || !strings.Contains(out, "manual") || !strings.Contains(out, "id 7 is bad") {
		t.Fatalf("dlq list: %d\n%s", code, out)
	}
	row := func() []string {
		code, out, _ := runCLI(t, "", append([]string{"status"}, common...)...)
		if code != 0 {
			t.Fatalf("status: %d", code)
		}
		return statusRow(out, "failon:7")
	}
	if r := row(); len(r) != 9 || r[1] != "0" || r[6] != "1" {
		t.Fatalf("status row %v: want nothing pending and 1 dead letter", r)
	}
	code, out, _ = runCLI(t, "", append([]string{"dlq", "replay", "--destination", "failon:7"}, common...)...)
	if code != 0 || !strings.Contains(out, "replayed 1 dead letter\n") || !strings.Contains(out, "bridge run --input /dev/null --destination failon:7 --pipeline blocked") {
		t.Fatalf("replay: %d\n%s", code, out)
	}
	if r := row(); len(r) != 9 || r[1] != "1" || r[6] != "0" {
		t.Fatalf("status row after replay %v: want 1 pending and no dead letter", r)
	}
}

func slicesIndex(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

// With --nats-url the state is on the server: no local directory is made.
func TestExternalNATSCreatesNoLocalDir(t *testing.T) {
	url := queuetest.External(t)
	home := t.TempDir()
	t.Setenv("HOME", home)
	name := queuetest.UniqueName("nodir")
	code, _, errOut := runCLI(t, "{\"id\":1}\n", "run", "--input", "-", "--pipeline", name, "--nats-url", url, "--destination", "stdout", "--quiet")
	if code != 0 {
		t.Fatalf("run: %d %s", code, errOut)
	}
	t.Cleanup(func() { runCLI(t, "", "drop", "--yes", "--pipeline", name, "--nats-url", url) })
	if _, err := os.Stat(filepath.Join(home, ".bridge")); !os.IsNotExist(err) {
		t.Fatalf("~/.bridge exists after a run on an external server: %v", err)
	}
}
