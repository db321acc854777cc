package natssink_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap/zaptest"

	"github.com/fanoutbridge/bridge"
	"github.com/fanoutbridge/bridge/internal/queuetest"
	"github.com/fanoutbridge/bridge/schema"
	"github.com/fanoutbridge/bridge/sink"
	natssink "github.com/fanoutbridge/bridge/sinks/nats"
)

// target is a NATS server the sink publishes to.
type target struct {
	name string
	url  func(t *testing.T) string
}

// targets are the in-process server and the machine's own at
// 127.0.0.1:4222 (required under CI).
var targets = []target{
	{"embedded", func(t *testing.T) string { return runServer(t, 0).ClientURL() }},
	{"external", func(t *testing.T) string { return queuetest.External(t) }},
}

// runServer starts an in-process nats-server with JetStream in
// t.TempDir() (maxPayload 0: the default), whose warnings and errors go to
// the test's log.
func runServer(t *testing.T, maxPayload int32) *server.Server {
	t.Helper()
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(),
		MaxPayload: maxPayload, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	l := &testLogger{t: t}
	srv.SetLoggerV2(l, false, false, false)
	srv.Start()
	t.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
		l.mu.Lock()
		l.done = true
		l.mu.Unlock()
	})
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	return srv
}

// testLogger logs a server's warnings and errors to its test, until it ends.
type testLogger struct {
	t    *testing.T
	mu   sync.Mutex
	done bool
}

func (l *testLogger) logf(level, format string, v ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.done {
		l.t.Logf("nats-server "+level+": "+format, v...)
	}
}

func (l *testLogger) Noticef(string, ...any)         {}
func (l *testLogger) Debugf(string, ...any)          {}
func (l *testLogger) Tracef(string, ...any)          {}
func (l *testLogger) Warnf(format string, v ...any)  { l.logf("warning", format, v...) }
func (l *testLogger) Errorf(format string, v ...any) { l.logf("error", format, v...) }
func (l *testLogger) Fatalf(format string, v ...any) { l.logf("fatal", format, v...) }

func forEachTarget(t *testing.T, f func(t *testing.T, url string)) {
	t.Helper()
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) { f(t, tg.url(t)) })
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// jsOf connects a JetStream client to url for checking what the target
// holds; it deletes the named streams when the test ends.
func jsOf(t *testing.T, url string, cleanup ...string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, s := range cleanup {
			_ = js.DeleteStream(ctx, s)
		}
		nc.Close()
	})
	return js
}

// got is one row found in the target.
type got struct {
	ID      int64
	Table   string
	BatchID string
	MsgID   string
}

// readStream returns the rows the stream holds, in stream order.
func readStream(ctx context.Context, t *testing.T, js jetstream.JetStream, stream string) []got {
	t.Helper()
	st, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	info := st.CachedInfo()
	var out []got
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("get message %d: %v", seq, err)
		}
		out = append(out, rowsOf(t, m.Data, m.Header)...)
	}
	return out
}

// rowsOf decodes a message: one JSON object per line.
func rowsOf(t *testing.T, data []byte, h nats.Header) []got {
	t.Helper()
	var out []got
	for line := range strings.SplitSeq(strings.TrimSuffix(string(data), "\n"), "\n") {
		var row struct {
			ID int64 `json:"id"`
		}
		if err := json.Unmarshal([]byte(line), &row); err != nil {
			t.Fatalf("message %q: %v", line, err)
		}
		out = append(out, got{ID: row.ID, Table: h.Get(natssink.HeaderTable), BatchID: h.Get(natssink.HeaderBatchID), MsgID: h.Get(jetstream.MsgIDHeader)})
	}
	return out
}

func items(n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = map[string]any{"id": i + 1, "name": fmt.Sprintf("n%d", i+1), "amount": float64(i) + 0.5, "ok": i%2 == 0}
	}
	return out
}

// failTwice writes every batch with the NATS sink, then fails the first two
// writes of each batch, so that every batch is written three times.
type failTwice struct {
	*natssink.Sink
	mu     sync.Mutex
	writes map[string]int
}

func (f *failTwice) Write(ctx context.Context, b sink.Batch) error {
	if err := f.Sink.Write(ctx, b); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes[b.ID]++
	if f.writes[b.ID] <= 2 {
		return fmt.Errorf("injected failure after write %d of batch %s", f.writes[b.ID], b.ID)
	}
	return nil
}

// The acceptance test: NATS into a JetStream stream, a batch retried 3
// times leaves no duplicate in the target stream.
func TestRetriedBatchLeavesNoDuplicate(t *testing.T) {
	forEachTarget(t, func(t *testing.T, url string) {
		for _, mode := range []string{natssink.ModeRows, natssink.ModeBatch} {
			t.Run(mode, func(t *testing.T) {
				ctx := ctxT(t)
				name := queuetest.UniqueName("ns")
				js := jsOf(t, url, name)
				s, err := natssink.New(natssink.Config{URL: url, Subject: name + ".{table}", Mode: mode, JetStream: true, Stream: name}, zaptest.NewLogger(t))
				if err != nil {
					t.Fatal(err)
				}
				w := &failTwice{Sink: s, writes: map[string]int{}}
				dest := bridge.NewSinkDestination("nats", w, bridge.BatchSize(10), bridge.RetryBackoff(10*time.Millisecond, 50*time.Millisecond),
					bridge.LoaderParallelismStrategy(bridge.TableSequential))
				p, err := bridge.NewPipeline(name, dest, bridge.WithDataDir(t.TempDir()))
				if err != nil {
					t.Fatal(err)
				}
				defer p.Close()
				info, err := p.Run(ctx, items(25), bridge.TableName("orders"))
				if err != nil {
					t.Fatalf("Run: %v", err)
				}
				if info.Items() != 25 {
					t.Fatalf("delivered %d items, want 25", info.Items())
				}
				w.mu.Lock()
				if len(w.writes) != 3 {
					t.Errorf("%d batches written, want 3", len(w.writes))
				}
				for id, n := range w.writes {
					if n != 3 {
						t.Errorf("batch %s written %d times, want 3", id, n)
					}
				}
				w.mu.Unlock()

				st, err := js.Stream(ctx, name)
				if err != nil {
					t.Fatal(err)
				}
				wantMsgs := uint64(25)
				if mode == natssink.ModeBatch {
					wantMsgs = 3
				}
				if n := st.CachedInfo().State.Msgs; n != wantMsgs {
					t.Fatalf("stream holds %d messages, want %d (each batch was written 3 times)", n, wantMsgs)
				}
				rows := readStream(ctx, t, js, name)
				if len(rows) != 25 {
					t.Fatalf("stream holds %d rows, want 25", len(rows))
				}
				for i, r := range rows {
					if r.ID != int64(i+1) || r.Table != "orders" || r.BatchID == "" {
						t.Fatalf("row %d: %+v, want id %d of table orders with its batch id", i, r, i+1)
					}
					want := r.BatchID
					if mode == natssink.ModeRows {
						want = fmt.Sprintf("%s.%d", r.BatchID, i%10)
					}
					if r.MsgID != want {
						t.Errorf("row %d: Nats-Msg-Id %q, want %q", i, r.MsgID, want)
					}
				}
			})
		}
	})
}

// Core NATS: every row reaches a subscriber that is there, with its
// headers; a retried batch is sent again (at most once per message and
// subscriber, no de-duplication).
func TestCoreNATS(t *testing.T) {
	forEachTarget(t, func(t *testing.T, url string) {
		ctx := ctxT(t)
		name := queuetest.UniqueName("nc")
		nc, err := nats.Connect(url)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		ch := make(chan *nats.Msg, 1000)
		sub, err := nc.ChanSubscribe(name+".>", ch)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Unsubscribe()
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		s, err := natssink.New(natssink.Config{URL: url, Subject: name + ".rows.{table}"}, zaptest.NewLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		w := &failTwice{Sink: s, writes: map[string]int{}}
		dest := bridge.NewSinkDestination("nats", w, bridge.BatchSize(10), bridge.RetryBackoff(10*time.Millisecond, 50*time.Millisecond),
			bridge.LoaderParallelismStrategy(bridge.TableSequential))
		p, err := bridge.NewPipeline(name, dest, bridge.WithDataDir(t.TempDir()))
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		if _, err := p.Run(ctx, items(15), bridge.TableName("users")); err != nil {
			t.Fatalf("Run: %v", err)
		}
		counts := map[int64]int{}
		deadline := time.After(10 * time.Second)
		for n := 0; n < 45; n++ {
			select {
			case m := <-ch:
				if m.Subject != name+".rows.users" {
					t.Fatalf("subject %q, want %s.rows.users", m.Subject, name)
				}
				for _, r := range rowsOf(t, m.Data, m.Header) {
					if r.Table != "users" || r.BatchID == "" || !strings.HasPrefix(r.MsgID, r.BatchID+".") {
						t.Fatalf("headers: %+v", r)
					}
					counts[r.ID]++
				}
			case <-deadline:
				t.Fatalf("got %d of 45 messages (15 rows, each batch written 3 times) within 10s", n)
			}
		}
		for id := int64(1); id <= 15; id++ {
			if counts[id] != 3 {
				t.Errorf("row %d received %d times, want 3 (once per write)", id, counts[id])
			}
		}
	})
}

// Connect tells what to do when no stream captures the subjects, and
// creates the configured stream when it is missing.
func TestConnectChecksStream(t *testing.T) {
	forEachTarget(t, func(t *testing.T, url string) {
		ctx := ctxT(t)
		name := queuetest.UniqueName("cs")
		js := jsOf(t, url, name, name+"_other")
		env := sink.Env{Pipeline: "p", Destination: "d"}

		s, err := natssink.New(natssink.Config{URL: url, Subject: name + ".{table}", JetStream: true}, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = s.Connect(ctx, env)
		if err == nil || !strings.Contains(err.Error(), "nats stream add") || !strings.Contains(err.Error(), name+".*") {
			t.Fatalf("Connect without a stream: %v, want an error saying how to create one for %s.*", err, name)
		}

		// A stream that captures other subjects.
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name + "_other", Subjects: []string{name + ".only"}}); err != nil {
			t.Fatal(err)
		}
		s, _ = natssink.New(natssink.Config{URL: url, Subject: name + ".{table}", JetStream: true, Stream: name + "_other"}, nil)
		if err := s.Connect(ctx, env); err == nil || !strings.Contains(err.Error(), "does not capture") {
			t.Fatalf("Connect with a stream that misses the subjects: %v", err)
		}
		if err := js.DeleteStream(ctx, name+"_other"); err != nil {
			t.Fatal(err)
		}

		// The configured stream is created, with the duplicate window.
		s, _ = natssink.New(natssink.Config{URL: url, Subject: name + ".{table}", JetStream: true, Stream: name, DuplicateWindow: 5 * time.Minute}, nil)
		if err := s.Connect(ctx, env); err != nil {
			t.Fatalf("Connect creating the stream: %v", err)
		}
		defer s.Close(ctx)
		st, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatalf("stream not created: %v", err)
		}
		if c := st.CachedInfo().Config; c.Duplicates != 5*time.Minute || len(c.Subjects) != 1 || c.Subjects[0] != name+".*" {
			t.Fatalf("created stream: subjects %v, duplicate window %v", c.Subjects, c.Duplicates)
		}

		// Now that it exists, a sink without nats_stream finds it.
		s2, _ := natssink.New(natssink.Config{URL: url, Subject: name + ".{table}", JetStream: true}, nil)
		if err := s2.Connect(ctx, env); err != nil {
			t.Fatalf("Connect finding the stream: %v", err)
		}
		if err := s2.Close(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// A connection error names the server without its credentials.
func TestConnectErrorHidesSecrets(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := natssink.New(natssink.Config{URL: "nats://alice:s3cretPW@127.0.0.1:1", Password: "pw-secret", User: "bob"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Connect(ctx, sink.Env{Destination: "out"})
	if err == nil {
		t.Fatal("Connect to a closed port succeeded")
	}
	if strings.Contains(err.Error(), "s3cretPW") || strings.Contains(err.Error(), "pw-secret") || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("error %q: want the server named without its secrets", err)
	}
	// It says what to do.
	if !strings.Contains(err.Error(), "check that a NATS server runs there") || !strings.Contains(err.Error(), `nats_url of destination "out"`) {
		t.Fatalf("error %q: want what to check (the server, nats_url of the destination)", err)
	}
}

// A row over the server's max_payload is a terminal row error; the other
// rows of the batch are stored. In batch mode such a batch is terminal.
func TestRowOverMaxPayload(t *testing.T) {
	ctx := ctxT(t)
	srv := runServer(t, 1024)
	url := srv.ClientURL()
	js := jsOf(t, url)
	tbl := schema.Table{Name: "big", Columns: []schema.Column{{Name: "id", DataType: schema.TypeBigInt}, {Name: "name", DataType: schema.TypeText, Nullable: true}}}
	rows := []schema.Row{{"id": int64(1)}, {"id": int64(2), "name": strings.Repeat("x", 2000)}, {"id": int64(3)}}
	for _, mode := range []string{natssink.ModeRows, natssink.ModeBatch} {
		t.Run(mode, func(t *testing.T) {
			name := queuetest.UniqueName("mp")
			s, err := natssink.New(natssink.Config{URL: url, Subject: name + ".{table}", Mode: mode, JetStream: true, Stream: name}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Connect(ctx, sink.Env{}); err != nil {
				t.Fatal(err)
			}
			defer s.Close(ctx)
			err = s.Write(ctx, sink.Batch{ID: "b1", Table: tbl, Rows: rows, Attempt: 1})
			if mode == natssink.ModeBatch {
				if !sink.IsTerminal(err) || !strings.Contains(err.Error(), "max_payload") {
					t.Fatalf("Write: %v, want a terminal error about max_payload", err)
				}
				return
			}
			re, ok := sink.AsRowErrors(err)
			if !ok || len(re) != 1 || !sink.IsTerminal(re[1]) {
				t.Fatalf("Write: %v, want a terminal row error for row 1", err)
			}
			got := readStream(ctx, t, js, name)
			if len(got) != 2 || got[0].ID != 1 || got[1].ID != 3 || got[0].MsgID != "b1.0" || got[1].MsgID != "b1.2" {
				t.Fatalf("stream holds %+v, want rows 1 and 3", got)
			}
		})
	}
}

// A message the stream refuses is a row error, transient (tried again
// alone); a message nobody acks makes the whole batch transient, and the
// write after it leaves no duplicate.
func TestAckFailures(t *testing.T) {
	ctx := ctxT(t)
	url := runServer(t, 0).ClientURL()
	name := queuetest.UniqueName("na")
	js := jsOf(t, url)
	tbl := schema.Table{Name: "t", Columns: []schema.Column{{Name: "id", DataType: schema.TypeBigInt}}}
	rows := []schema.Row{{"id": int64(1)}, {"id": int64(2)}, {"id": int64(3)}}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{name + ".*"}, MaxMsgs: 2, Discard: jetstream.DiscardNew}); err != nil {
		t.Fatal(err)
	}
	s, err := natssink.New(natssink.Config{URL: url, Subject: name + ".{table}", JetStream: true, Timeout: 500 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Connect(ctx, sink.Env{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)

	// The stream holds 2 messages at most: the third is refused.
	err = s.Write(ctx, sink.Batch{ID: "b", Table: tbl, Rows: rows, Attempt: 1})
	re, ok := sink.AsRowErrors(err)
	if !ok || len(re) != 1 || re[2] == nil || sink.IsTerminal(re[2]) {
		t.Fatalf("Write into a full stream: %v, want a transient row error for row 2", err)
	}

	// Nothing acks: a subscriber that is not a stream takes the messages.
	st, _ := js.Stream(ctx, name)
	c := st.CachedInfo().Config
	c.Subjects, c.MaxMsgs = []string{name + ".elsewhere"}, -1
	if _, err := js.UpdateStream(ctx, c); err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync(name + ".t")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	err = s.Write(ctx, sink.Batch{ID: "c", Table: tbl, Rows: rows, Attempt: 1})
	if err == nil || sink.IsTerminal(err) || !strings.Contains(err.Error(), "got no ack") {
		t.Fatalf("Write with nobody acking: %v, want a transient error", err)
	}
	if _, ok := sink.AsRowErrors(err); ok {
		t.Fatalf("Write: %v: want the whole batch tried again, not row errors (the stream may hold some)", err)
	}
	_ = sub.Unsubscribe()

	// The stream is back: written twice, each row is there once.
	c.Subjects = []string{name + ".*"}
	if _, err := js.UpdateStream(ctx, c); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := s.Write(ctx, sink.Batch{ID: "c", Table: tbl, Rows: rows, Attempt: 2}); err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
	got := readStream(ctx, t, js, name)
	if len(got) != 5 || got[2].BatchID != "c" || got[4].ID != 3 || got[4].MsgID != "c.2" {
		t.Fatalf("stream holds %+v, want rows 1 and 2 of batch b, then 1, 2 and 3 of batch c once", got)
	}
}

// Close waits for the writes, drains, and refuses later writes.
func TestClose(t *testing.T) {
	ctx := ctxT(t)
	url := runServer(t, 0).ClientURL()
	s, err := natssink.New(natssink.Config{URL: url, Subject: "close.{table}"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tbl := schema.Table{Name: "t", Columns: []schema.Column{{Name: "id", DataType: schema.TypeBigInt}}}
	if err := s.Write(ctx, sink.Batch{ID: "b", Table: tbl, Rows: []schema.Row{{"id": int64(1)}}}); err == nil {
		t.Fatal("Write before Connect succeeded")
	}
	if err := s.Connect(ctx, sink.Env{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Write(ctx, sink.Batch{ID: "b", Table: tbl, Rows: []schema.Row{{"id": int64(1)}}}); !errors.Is(err, natssink.ErrClosed) {
		t.Fatalf("Write after Close: %v, want ErrClosed", err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  natssink.Config
		want string
	}{
		{"no url", natssink.Config{}, "nats_url"},
		{"mode", natssink.Config{URL: "nats://x", Mode: "lines"}, "nats_mode"},
		{"wildcard", natssink.Config{URL: "nats://x", Subject: "a.*.{table}"}, "wildcards"},
		{"empty token", natssink.Config{URL: "nats://x", Subject: "a..{table}"}, "empty token"},
		{"placeholder", natssink.Config{URL: "nats://x", Subject: "a.{schema}"}, "placeholder"},
		{"token and user", natssink.Config{URL: "nats://x", Token: "t", User: "u"}, "nats_token"},
		{"stream name", natssink.Config{URL: "nats://x", Stream: "a.b"}, "nats_stream"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := natssink.New(tc.cfg, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want an error about %s", err, tc.want)
			}
		})
	}
	s, err := natssink.New(natssink.Config{URL: "nats://x"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Subject("orders"); got != "bridge.orders" {
		t.Errorf("default subject %q", got)
	}
	if got := s.Subject("a.b c"); strings.ContainsAny(got[len("bridge."):], ". ") {
		t.Errorf("subject of table %q is %q: the table must be one token", "a.b c", got)
	}
}

// Destination resolves its settings like any configured destination; the
// password stays out of the summary.
func TestDestinationConfig(t *testing.T) {
	t.Setenv("DESTINATION__TONATS__NATS_URL", "nats://127.0.0.1:4222")
	t.Setenv("DESTINATION__TONATS__NATS_USER", "alice")
	t.Setenv("DESTINATION__TONATS__NATS_PASSWORD", "s3cretPW")
	t.Setenv("DESTINATION__TONATS__NATS_MODE", "batch")
	d := natssink.Destination("tonats", bridge.WithConfig(natssink.Config{Subject: "out.{table}"}))
	if _, ok := d.Sink().(*natssink.Sink); !ok {
		t.Fatalf("destination has no NATS sink: %T", d.Sink())
	}
	var sum []string
	for _, v := range d.ConfigSummary() {
		sum = append(sum, v.Key+"="+v.Value)
	}
	all := strings.Join(sum, " ")
	for _, want := range []string{"nats_url=nats://127.0.0.1:4222", "nats_mode=batch", "nats_subject=out.{table}", "nats_password=***"} {
		if !strings.Contains(all, want) {
			t.Errorf("summary %q lacks %q", all, want)
		}
	}
	if strings.Contains(all, "s3cretPW") {
		t.Errorf("summary %q shows the password", all)
	}
}

// Workers connecting at once all find the stream one of them created.
func TestConnectCreatesStreamOnce(t *testing.T) {
	ctx := ctxT(t)
	url := runServer(t, 0).ClientURL()
	name := queuetest.UniqueName("cc")
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			s, err := natssink.New(natssink.Config{URL: url, Subject: name + ".{table}", JetStream: true, Stream: name}, nil)
			if err == nil {
				err = s.Connect(ctx, sink.Env{})
			}
			if err == nil {
				err = s.Close(ctx)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("worker %d: %v", i, err)
		}
	}
}
