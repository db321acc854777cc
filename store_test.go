package bridge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/fanoutbridge/bridge/internal/queuetest"
	"github.com/fanoutbridge/bridge/queue"
)

// lockedBuffer is a log sink for a test's loggers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *lockedBuffer) logger() *zap.Logger {
	enc := zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig())
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(l), zapcore.DebugLevel))
}

// Pipelines on one embedded data directory share the first one's server: a
// second NewPipeline and an Open join it, see what it stored, and run loads
// through it; no second server starts. The owner's record is 0600 and its
// token is in no log line.
func TestPipelinesShareTheOwnersServer(t *testing.T) {
	dir := t.TempDir()
	var logs lockedBuffer
	rec1 := &recorder{}
	p1, err := NewPipeline("shared", NewDestination("d", rec1.fn, BatchSize(10)), WithDataDir(dir), WithLogger(logs.logger()))
	if err != nil {
		t.Fatal(err)
	}
	defer p1.Close()
	if _, err := p1.Run(ctxT(t), idValueItems(100), TableName("t")); err != nil {
		t.Fatal(err)
	}
	if p1.emb == nil || !p1.emb.Owner() {
		t.Fatal("the first pipeline does not run the embedded server")
	}

	rec2 := &recorder{}
	p2, err := NewPipeline("shared", NewDestination("d2", rec2.fn, BatchSize(10)), WithDataDir(dir), WithLogger(logs.logger()))
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	p2.cfg.fetchWait = 50 * time.Millisecond
	if p2.emb.Owner() || p2.emb.Server() != nil {
		t.Fatal("the second pipeline started a server of its own")
	}
	if _, err := p2.Run(ctxT(t), idValueItems(30), TableName("t")); err != nil {
		t.Fatalf("a load through the joined server: %v", err)
	}
	if n := len(rec2.byTable()["t"]); n != 30 {
		t.Fatalf("the joined pipeline delivered %d items, want 30", n)
	}

	admin, err := Open("shared", WithDataDir(dir), WithLogger(logs.logger()))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if admin.emb.Owner() {
		t.Fatal("Open started a second server")
	}
	st, err := admin.Status(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, d := range st.Destinations {
		got[d.Name] = d.Delivered.Items
	}
	if got["d"] != 100 || got["d2"] != 30 || len(st.Loads) != 2 {
		t.Fatalf("status through the joined server: delivered %v, %d loads", got, len(st.Loads))
	}

	path := filepath.Join(dir, queue.RecordFileName)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode().Perm(); m != 0o600 {
		t.Errorf("owner record mode %v, want 0600", m)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var record struct{ Token string }
	if err := json.Unmarshal(b, &record); err != nil || len(record.Token) < 32 {
		t.Fatalf("owner record %s: %v", b, err)
	}
	admin.Close()
	p2.Close()
	p1.Close()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("owner record left after Close: %v", err)
	}
	out := logs.String()
	if !strings.Contains(out, "joined the embedded NATS server") {
		t.Errorf("the logs do not say who joined:\n%s", out)
	}
	if strings.Contains(out, record.Token) {
		t.Fatalf("the token is in the logs:\n%s", out)
	}
}

// Open on a pipeline that does not exist fails with ErrNoPipeline, names the
// pipelines that do, and creates nothing: no directory, no store, no stream.
func TestOpenUnknownPipelineCreatesNothing(t *testing.T) {
	t.Run("embedded", func(t *testing.T) {
		parent := filepath.Join(t.TempDir(), "pipelines")
		for _, name := range []string{"events", "orders"} {
			p, err := NewPipeline(name, NewDestination("d", (&recorder{}).fn), WithDataDir(filepath.Join(parent, name)))
			if err != nil {
				t.Fatal(err)
			}
			p.Close()
		}
		if err := os.MkdirAll(filepath.Join(parent, "not-a-pipeline"), 0o755); err != nil {
			t.Fatal(err)
		}

		missing := filepath.Join(parent, "evnts")
		_, err := Open("evnts", WithDataDir(missing))
		if !errors.Is(err, ErrNoPipeline) {
			t.Fatalf("got %v, want ErrNoPipeline", err)
		}
		if want := `no pipeline "evnts" in ` + parent + ` (pipelines here: events, orders)`; !strings.Contains(err.Error(), want) {
			t.Errorf("error %q, want it to say %q", err, want)
		}
		if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("Open created %s: %v", missing, err)
		}

		// A store that exists, but not for this name: nothing is added to it.
		events := filepath.Join(parent, "events")
		_, err = Open("evnts", WithDataDir(events))
		if !errors.Is(err, ErrNoPipeline) || !strings.Contains(err.Error(), "(pipelines here: events)") {
			t.Fatalf("got %v, want ErrNoPipeline naming events", err)
		}
		p, err := Open("events", WithDataDir(events))
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		names, err := queue.Pipelines(ctxT(t), p.nc)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(names, []string{"events"}) {
			t.Fatalf("pipelines in the store after Open of a missing one: %v", names)
		}
	})

	t.Run("external", func(t *testing.T) {
		url := queuetest.External(t)
		dir := filepath.Join(t.TempDir(), "data")
		name := queuetest.UniqueName("missing")
		_, err := Open(name, WithNATSURL(url), WithDataDir(dir))
		if !errors.Is(err, ErrNoPipeline) || !strings.Contains(err.Error(), `no pipeline "`+name+`" on `) {
			t.Fatalf("got %v, want ErrNoPipeline", err)
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("Open created %s: %v", dir, err)
		}
		nc, err := nats.Connect(url)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, s := range []string{"BRIDGE_" + name, "BRIDGE_" + name + "_DLQ", "KV_BRIDGE_" + name + "_STATE"} {
			if _, err := js.Stream(ctx, s); !errors.Is(err, jetstream.ErrStreamNotFound) {
				t.Errorf("stream %s after Open of a missing pipeline: %v", s, err)
			}
		}
	})
}
