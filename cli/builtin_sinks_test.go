package cli

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fanoutbridge/bridge/batcher"
	"github.com/fanoutbridge/bridge/internal/queuetest"
)

// file:DIR takes its settings after '?'; plain file:DIR follows --format.
func TestFileDestinationSettings(t *testing.T) {
	dir := t.TempDir()
	var in strings.Builder
	for i := range 25 {
		in.WriteString(`{"id":` + strconv.Itoa(i) + "}\n")
	}
	for _, tc := range []struct {
		spec, format, glob string
		gz                 bool
	}{
		{"file:" + filepath.Join(dir, "a") + "?format=parquet&gzip=true", "typed-jsonl", filepath.Join(dir, "a", "t", "*.parquet.gz"), true},
		{"file:" + filepath.Join(dir, "b"), "parquet", filepath.Join(dir, "b", "t", "*.parquet"), false},
		{"file:" + filepath.Join(dir, "c") + "?name=%7Btable%7D-%7Bbatch_id%7D.%7Bext%7D", "typed-jsonl", filepath.Join(dir, "c", "t-*.jsonl"), false},
	} {
		code, _, errOut := runCLI(t, in.String(), "run", "--input", "-", "--table", "t", "--destination", tc.spec,
			"--batch-size", "10", "--format", tc.format, "--data-dir", filepath.Join(dir, "data"), "--quiet")
		if code != 0 {
			t.Fatalf("%s: code %d: %s", tc.spec, code, errOut)
		}
		files, _ := filepath.Glob(tc.glob)
		if len(files) != 3 {
			t.Fatalf("%s: files %v, want 3 matching %s", tc.spec, files, tc.glob)
		}
		rows := 0
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if tc.gz {
				zr, err := gzip.NewReader(bytes.NewReader(b))
				if err != nil {
					t.Fatalf("%s: %v", f, err)
				}
				if b, err = io.ReadAll(zr); err != nil {
					t.Fatalf("%s: %v", f, err)
				}
			}
			if strings.Contains(f, ".parquet") {
				_, r, err := batcher.Decode(batcher.Parquet, b)
				if err != nil {
					t.Fatalf("%s: %v", f, err)
				}
				rows += len(r)
			} else {
				rows += bytes.Count(b, []byte("\n"))
			}
		}
		if rows != 25 {
			t.Errorf("%s: %d rows in the files, want 25", tc.spec, rows)
		}
	}
}

// --destination nats reads its settings from the environment (or
// .bridge/config.toml) and publishes every row into the stream.
func TestNATSDestination(t *testing.T) {
	url := queuetest.RunJetStream(t).ClientURL()
	t.Setenv("DESTINATION__NATS__NATS_URL", url)
	t.Setenv("DESTINATION__NATS__NATS_JETSTREAM", "true")
	t.Setenv("DESTINATION__NATS__NATS_STREAM", "OUT")
	var in strings.Builder
	for i := range 25 {
		in.WriteString(`{"id":` + strconv.Itoa(i) + "}\n")
	}
	code, _, errOut := runCLI(t, in.String(), "run", "--input", "-", "--table", "t", "--destination", "nats:out.{table}",
		"--data-dir", t.TempDir(), "--quiet")
	if code != 0 {
		t.Fatalf("code %d: %s", code, errOut)
	}
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, "OUT")
	if err != nil {
		t.Fatalf("stream OUT: %v", err)
	}
	if info := st.CachedInfo(); info.State.Msgs != 25 || info.Config.Subjects[0] != "out.*" {
		t.Fatalf("stream OUT holds %d messages on %v, want 25 on out.*", info.State.Msgs, info.Config.Subjects)
	}
}
