package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/fanoutbridge/bridge"
	"github.com/fanoutbridge/bridge/sink"
)

// The file-load example runs from the repository's root exactly as the
// README says.
func TestConfigFileExampleFromReadme(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var cmd string
	sc := bufio.NewScanner(strings.NewReader(string(readme)))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); strings.HasPrefix(l, "go run ./cmd/bridge run --config configs/file-load.toml") {
			cmd = l
			break
		}
	}
	if cmd == "" {
		t.Fatal("README has no line `go run ./cmd/bridge run --config configs/file-load.toml`")
	}
	if i := strings.Index(cmd, "#"); i >= 0 {
		cmd = strings.TrimSpace(cmd[:i])
	}
	args := strings.Fields(strings.TrimPrefix(cmd, "go run ./cmd/bridge "))
	t.Setenv("HOME", t.TempDir()) // the example's store: ~/.bridge/pipelines/file_load
	t.Chdir("..")
	out := filepath.Join("out", "file-load")
	os.RemoveAll(out)
	t.Cleanup(func() { os.RemoveAll(out); os.Remove("out") })

	code, stdout, stderr := runCLI(t, "", args...)
	if code != 0 {
		t.Fatalf("%s: exit %d\n%s", cmd, code, stderr)
	}
	// 100 events, with nesting 1: 100 rows of events and 165 of events__tags.
	perTable := map[string]int{}
	for line := range strings.Lines(stdout) {
		var it struct {
			Table string         `json:"table"`
			Item  map[string]any `json:"item"`
		}
		if err := json.Unmarshal([]byte(line), &it); err != nil {
			t.Fatalf("stdout line %q: %v", line, err)
		}
		perTable[it.Table]++
		if it.Table == "events" && it.Item["address__city"] == nil {
			t.Errorf("events row without address__city (max_nesting = 1, snake_case): %v", it.Item)
		}
	}
	if perTable["events"] != 100 || perTable["events__tags"] != 165 {
		t.Fatalf("stdout per table %v; want events 100, events__tags 165", perTable)
	}
	files := 0
	rows := 0
	filepath.WalkDir(out, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files++
			b, _ := os.ReadFile(p)
			rows += strings.Count(string(b), "\n")
		}
		return nil
	})
	// 50 rows per load file: events 2 files, events__tags 4.
	if files != 6 || rows != 265 {
		t.Fatalf("%s: %d files, %d lines; want 6 load files with 265 rows", out, files, rows)
	}
	if !strings.Contains(stderr, `destination "lake": delivered 265 items`) {
		t.Errorf("summary lacks the lake destination:\n%s", stderr)
	}
	// Every command takes the file for the pipeline and where it runs.
	code, stdout, stderr = runCLI(t, "", "status", "--config", "configs/file-load.toml", "--json")
	if code != 0 || !strings.Contains(stdout, `"pipeline": "file_load"`) && !strings.Contains(stdout, `"pipeline":"file_load"`) {
		t.Fatalf("status --config: exit %d: %s %s", code, stdout, stderr)
	}
	if code, _, stderr = runCLI(t, "", "dlq", "list", "--config", "configs/file-load.toml"); code != 0 {
		t.Fatalf("dlq list --config: exit %d: %s", code, stderr)
	}
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pipeline.toml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Bad config files fail before anything moves, exit 2, naming the file, the
// line and the key.
func TestConfigFileErrors(t *testing.T) {
	registerCfgSink()
	for _, tc := range []struct {
		name, body, want string
	}{
		{"unknown key", "pipeline = \"p\"\nbatchsize = 10\n", ":2: batchsize: unknown key"},
		{"unknown section key", "[input]\npath = \"-\"\n\n[normalize]\nnesting = 1\n", ":5: normalize.nesting: unknown key"},
		{"unknown section", "[inptu]\npath = \"-\"\n", ":1: [inptu]: unknown section"},
		{"wrong type", "[input]\npath = \"-\"\n[normalize]\nmax_nesting = \"one\"\n", ":4: normalize.max_nesting: want an integer, got a string"},
		{"wrong type bool", "[normalize]\nskip_dlt_columns = \"no\"\n[input]\npath = \"-\"\n", ":2: normalize.skip_dlt_columns: want true or false"},
		{"bad value", "[input]\npath = \"-\"\n[normalize]\nnaming = \"camel\"\n", ":4: normalize.naming: \"camel\": want direct or snake_case"},
		{"bad url scheme", "nats_url = \"http://127.0.0.1:4222\"\n[input]\npath = \"-\"\n", ":1: nats_url: server 1 of 1 has scheme \"http\": want nats://"},
		{"bad url", "nats_url = \"nats://a b:4222/%zz\"\n[input]\npath = \"-\"\n", ":1: nats_url: server 1 of 1 does not parse"},
		{"bad metrics addr", "metrics_addr = \"9090\"\n[input]\npath = \"-\"\n", ":1: metrics_addr:"},
		{"unknown destination", "[input]\npath = \"-\"\n\n[[destination]]\nspec = \"nosuch:x\"\n", ":5: destination[0].spec: no destination \"nosuch\""},
		{"unknown destination type", "[input]\npath = \"-\"\n[destination.crm]\ntype = \"kafak\"\n", ":4: destination.crm.type: no destination \"kafak\""},
		{"destination without spec", "[input]\npath = \"-\"\n[[destination]]\nbatch_size = 5\n", ":3: destination[0]: no spec"},
		{"bad batch size", "[input]\npath = \"-\"\n[[destination]]\nspec = \"stdout\"\nbatch_size = 0\n", ":5: destination[0].batch_size: 0: want 1 or more"},
		{"bad delivery default", "[input]\npath = \"-\"\n[delivery]\nstrategy = \"fast\"\n", ":4: delivery.strategy: \"fast\": want parallel"},
		{"sink setting unknown", "[input]\npath = \"-\"\n[[destination]]\ntype = \"cfgtest\"\ncfgtest_url = \"http://x\"\ncfgtest_urll = \"y\"\n", ":6\" not in"},
		{"sink setting for a sink without settings", "[input]\npath = \"-\"\n[[destination]]\nspec = \"stdout\"\nurl = \"x\"\n", "takes no settings, got \"url\" from"},
		{"sink setting wrong type", "[input]\npath = \"-\"\n[[destination]]\ntype = \"cfgtest\"\ncfgtest_url = \"http://x\"\ncfgtest_retries = \"many\"\n", ":6"},
		{"missing env", "nats_url = \"nats://u:${BRIDGE_TEST_NO_SUCH_VAR}@127.0.0.1:4222\"\n[input]\npath = \"-\"\n", ":1: nats_url: environment variable \"BRIDGE_TEST_NO_SUCH_VAR\" is not set"},
		{"syntax", "[input]\npath = \n", ":2: TOML syntax error"},
		{"twice", "[input]\npath = \"-\"\n[[destination]]\nspec = \"stdout\"\n[[destination]]\nspec = \"stdout\"\n", ":5: destination[1]: destination \"stdout\" is given twice"},
		{"log level", "log_level = \"loud\"\n[input]\npath = \"-\"\n", ":1: log_level: \"loud\": want debug"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, tc.body)
			code, _, errOut := runCLI(t, "{\"id\":1}\n", "run", "--config", path, "--data-dir", t.TempDir(), "--quiet")
			if code != 2 || !strings.Contains(errOut, path) || !strings.Contains(errOut, strings.TrimSuffix(tc.want, "\" not in")) {
				t.Fatalf("exit %d, stderr %q; want 2 and the file and %q", code, errOut, tc.want)
			}
		})
	}
	t.Run("status", func(t *testing.T) {
		path := writeConfig(t, "pipeline = \"p\"\nlog_level = \"loud\"\n[input]\npath = \"-\"\n")
		code, _, errOut := runCLI(t, "", "status", "--config", path, "--data-dir", t.TempDir())
		if code != 2 || !strings.Contains(errOut, path+":2: log_level") {
			t.Fatalf("status: exit %d, %q", code, errOut)
		}
		path = writeConfig(t, "pipeline = \"p\"\nlog_levle = \"warn\"\n")
		if code, _, errOut := runCLI(t, "", "dlq", "list", "--config", path); code != 2 || !strings.Contains(errOut, path+":2: log_levle: unknown key") {
			t.Fatalf("dlq list: exit %d, %q", code, errOut)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		code, _, errOut := runCLI(t, "", "run", "--config", filepath.Join(t.TempDir(), "nope.toml"))
		if code != 2 || !strings.Contains(errOut, "--config") {
			t.Fatalf("exit %d, stderr %q", code, errOut)
		}
	})
}

// cfgConfig is the config of a test sink registered as "cfgtest".
type cfgConfig struct {
	URL     string   `bridge:"cfgtest_url"`
	Token   string   `bridge:"cfgtest_token,secret,optional"`
	Retries int      `bridge:"cfgtest_retries" default:"3"`
	Tags    []string `bridge:"cfgtest_tags,optional"`
}

// cfgSink records its config and the rows it gets.
type cfgSink struct {
	cfg  cfgConfig
	mu   sync.Mutex
	rows int
}

func (s *cfgSink) Write(_ context.Context, b sink.Batch) error {
	s.mu.Lock()
	s.rows += len(b.Rows)
	s.mu.Unlock()
	return nil
}

var (
	cfgOnce  sync.Once
	cfgMu    sync.Mutex
	cfgSinks []*cfgSink
)

func registerCfgSink() {
	registerBuiltins()
	cfgOnce.Do(func() {
		must(bridge.Register("cfgtest", func(arg string, opts ...bridge.Option) (*bridge.Destination, error) {
			return bridge.NewConfiguredSink("cfgtest", func(c cfgConfig) (sink.Sink, error) {
				s := &cfgSink{cfg: c}
				cfgMu.Lock()
				cfgSinks = append(cfgSinks, s)
				cfgMu.Unlock()
				return s, nil
			}, opts...), nil
		}))
	})
}

func lastCfgSink() *cfgSink {
	cfgMu.Lock()
	defer cfgMu.Unlock()
	return cfgSinks[len(cfgSinks)-1]
}

// A destination's settings in the file reach its sink's config; a secret
// given by ${ENV} appears in no output; flags win over the file.
func TestConfigFileSinkSettings(t *testing.T) {
	registerCfgSink()
	const secret = "s3cr3t-t0ken-4711"
	t.Setenv("BRIDGE_TEST_TOKEN", secret)
	input := filepath.Join(t.TempDir(), "in.jsonl")
	os.WriteFile(input, []byte("{\"id\":1}\n{\"id\":2}\n{\"id\":3}\n"), 0o644)
	path := writeConfig(t, `pipeline = "cfg_sink"
log_level = "debug"

[input]
path = "`+input+`"
table = "orders"

[[destination]]
name = "crm"
type = "cfgtest"
batch_size = 2
cfgtest_url = "https://crm.example/api"
cfgtest_token = "${BRIDGE_TEST_TOKEN}"
cfgtest_tags = ["a", "b"]
`)
	dir := t.TempDir()
	code, out, errOut := runCLI(t, "", "run", "--config", path, "--data-dir", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	s := lastCfgSink()
	if s.cfg.URL != "https://crm.example/api" || s.cfg.Token != secret || s.cfg.Retries != 3 || strings.Join(s.cfg.Tags, ",") != "a,b" {
		t.Fatalf("sink config %+v", s.cfg)
	}
	if s.rows != 3 {
		t.Fatalf("sink got %d rows, want 3", s.rows)
	}
	if !strings.Contains(errOut, `destination "crm": delivered 3 items in 2 batches`) {
		t.Errorf("summary: %s", errOut)
	}
	if strings.Contains(out+errOut, secret) {
		t.Fatalf("the secret appears in the output:\n%s%s", out, errOut)
	}

	// [destination.cfgtest] with settings only: the label is the type.
	path2 := writeConfig(t, "[input]\npath = \""+input+"\"\n[destination.cfgtest]\ncfgtest_url = \"https://other.example\"\n")
	if code, _, errOut := runCLI(t, "", "run", "--config", path2, "--data-dir", t.TempDir(), "--quiet"); code != 0 || lastCfgSink().cfg.URL != "https://other.example" {
		t.Fatalf("[destination.cfgtest]: exit %d, url %q: %s", code, lastCfgSink().cfg.URL, errOut)
	}

	// Flags win: --batch-size 3 makes one call; --table names the table.
	code, _, errOut = runCLI(t, "", "run", "--config", path, "--data-dir", dir, "--batch-size", "3", "--table", "other", "--log-format", "json")
	if code != 0 || !strings.Contains(errOut, `destination "crm": delivered 3 items in 1 batch`) || !strings.Contains(errOut, "other") {
		t.Fatalf("exit %d, flags did not win:\n%s", code, errOut)
	}
	if strings.Contains(errOut, secret) {
		t.Fatalf("the secret appears in the JSON logs")
	}
	// --destination names a destination of the file, or any spec.
	code, out, errOut = runCLI(t, "", "run", "--config", path, "--data-dir", dir, "--destination", "stdout", "--quiet")
	if code != 0 || strings.Count(out, "\n") != 3 {
		t.Fatalf("--destination stdout over the file: exit %d, stdout %q, stderr %s", code, out, errOut)
	}
}

// The file's values go where the flags' go: keyLines places keys.
func TestKeyLines(t *testing.T) {
	lines := keyLines([]byte(`# comment
pipeline = "p"
[input]
path = "x" # trailing
"quoted.key" = 1
notes = """
a = 1
"""
[[destination]]
spec = "stdout"
tags = [
  "a",
]
batch_size = 3
[[destination]]
spec = "null"
[destination2.crm]
type = "x"
`))
	for key, want := range map[string]int{
		"pipeline": 2, "input": 3, "input.path": 4, "input.quoted.key": 5, "input.notes": 6,
		"destination[0]": 9, "destination[0].spec": 10, "destination[0].tags": 11, "destination[0].batch_size": 14,
		"destination[1].spec": 16, "destination2.crm.type": 18,
	} {
		if lines[key] != want {
			t.Errorf("%s: line %d, want %d", key, lines[key], want)
		}
	}
	if _, ok := lines["a"]; ok {
		t.Errorf("a key inside a multi-line string was read")
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int{"1": 1, "64MiB": 64 << 20, "1 GiB": 1 << 30, "10KB": 10_000, "512B": 512} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "-1", "lots", "1TiB"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q): no error", in)
		}
	}
}

// --max-record-size bounds a JSON line: a longer one is skipped with its
// line and the hint to raise the bound.
func TestMaxRecordSize(t *testing.T) {
	in := "{\"id\":1}\n{\"id\":2,\"pad\":\"" + strings.Repeat("x", 200) + "\"}\n{\"id\":3}\n"
	code, out, errOut := runCLI(t, in, "run", "--input", "-", "--destination", "stdout", "--max-record-size", "100", "--data-dir", t.TempDir(), "--quiet")
	if code != 1 || strings.Count(out, "\n") != 2 || !strings.Contains(errOut, "line 2") || !strings.Contains(errOut, "--max-record-size") {
		t.Fatalf("exit %d, stdout %q, stderr %s", code, out, errOut)
	}
	code, out, _ = runCLI(t, in, "run", "--input", "-", "--destination", "stdout", "--max-record-size", "1KiB", "--data-dir", t.TempDir(), "--quiet")
	if code != 0 || strings.Count(out, "\n") != 3 {
		t.Fatalf("1KiB: exit %d, stdout %q", code, out)
	}
	if code, _, errOut := runCLI(t, in, "run", "--input", "-", "--max-record-size", "0", "--data-dir", t.TempDir()); code != 2 || !strings.Contains(errOut, "--max-record-size") {
		t.Fatalf("--max-record-size 0: exit %d, %s", code, errOut)
	}
}

// --table-field routes each item by a field's value.
func TestTableField(t *testing.T) {
	in := "{\"type\":\"a\",\"id\":1}\n{\"type\":\"b\",\"id\":2}\n{\"id\":3}\n"
	code, out, errOut := runCLI(t, in, "run", "--input", "-", "--destination", "stdout", "--table-field", "type", "--table", "rest", "--data-dir", t.TempDir(), "--quiet")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{`"table":"a"`, `"table":"b"`, `"table":"rest"`} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %s: %s", want, out)
		}
	}
}

// NATS credentials by reference (${VAR} and ${secret:...}) reach the
// connection (a server that requires them) and appear in no log line (JSON
// or console), error or status output; [destination.<label>] tables name
// their destination.
func TestConfigFileNATSSecrets(t *testing.T) {
	const pw = "n4ts-pa55-0f-al1ce"
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(),
		Username: "alice", Password: pw, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	t.Cleanup(srv.Shutdown)
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("the NATS server did not start in 10s")
	}
	url := srv.ClientURL()
	t.Setenv("BRIDGE_TEST_NATS_PW", pw)
	t.Chdir(t.TempDir())
	os.MkdirAll(".bridge", 0o700)
	os.WriteFile(".bridge/secrets.toml", []byte("[nats]\npassword = \""+pw+"\"\nwrong = \"wr0ng-pa55\"\n"), 0o600)
	name := "cfgsecret"
	config := func(ref string) {
		os.WriteFile("p.toml", []byte(`pipeline = "`+name+`"
nats_url = "`+url+`"
nats_user = "alice"
nats_password = "`+ref+`"
log_level = "debug"

[input]
path = "-"
table = "t"

[destination.out]
spec = "stdout"
batch_size = 4
`), 0o600)
	}
	for i, ref := range []string{"${BRIDGE_TEST_NATS_PW}", "${secret:nats.password}"} {
		config(ref)
		format := []string{"json", "console"}[i]
		code, out, errOut := runCLI(t, lines(0, 10, -1), "run", "--config", "p.toml", "--log-format", format)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", ref, code, errOut)
		}
		if strings.Contains(out+errOut, pw) {
			t.Fatalf("%s: the password is in the output:\n%s\n%s", ref, out, errOut)
		}
		if !strings.Contains(errOut, `destination "out": delivered 10 items in 3 batches`) {
			t.Fatalf("%s: the [destination.out] table did not make destination out:\n%s", ref, errOut)
		}
	}
	// The password is what let it in: a wrong one fails, unseen too.
	config("${secret:nats.wrong}")
	code, out, errOut := runCLI(t, lines(0, 10, -1), "run", "--config", "p.toml", "--log-format", "json")
	if code == 0 || strings.Contains(out+errOut, "wr0ng-pa55") {
		t.Fatalf("wrong password: exit %d: %s", code, errOut)
	}
	code, out, errOut = runCLI(t, "", "status", "--json", "--nats-url", strings.Replace(url, "nats://", "nats://alice:"+pw+"@", 1), "--pipeline", name)
	if code != 0 || strings.Contains(out+errOut, pw) {
		t.Fatalf("status: exit %d: %s %s", code, out, errOut)
	}
	// A password without a user, credentials without a URL: exit 2.
	os.WriteFile("bad.toml", []byte("nats_password = \"${BRIDGE_TEST_NATS_PW}\"\n[input]\npath = \"-\"\n"), 0o600)
	if code, _, errOut := runCLI(t, "", "run", "--config", "bad.toml"); code != 2 || !strings.Contains(errOut, "bad.toml:1: nats_password") || strings.Contains(errOut, pw) {
		t.Fatalf("nats_password without nats_url: exit %d, %s", code, errOut)
	}
}

// Every example in configs/ is a valid pipeline config file (checked
// without running it: some name servers that are not here).
func TestConfigsExamplesLoad(t *testing.T) {
	registerBuiltins()
	files, _ := filepath.Glob("../configs/*.toml")
	if len(files) == 0 {
		t.Fatal("no configs/*.toml")
	}
	for _, f := range files {
		pf, err := loadPipelineFile(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if len(pf.dests) == 0 {
			t.Errorf("%s: no destination", f)
		}
		for _, d := range pf.dests {
			opts, _, err := pf.destOptions(d)
			if err != nil {
				t.Errorf("%s: %v", f, err)
				continue
			}
			// Its settings are the sink's: made, not connected.
			if _, err := bridge.LookupDestination(d.spec, opts...); err != nil {
				t.Errorf("%s: destination %s: %v", f, d.key, err)
			}
		}
	}
}
