package natssource_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fanoutbridge/bridge"
	"github.com/fanoutbridge/bridge/internal/queuetest"
	"github.com/fanoutbridge/bridge/producer"
	natssource "github.com/fanoutbridge/bridge/sources/nats"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(child())
	}
	os.Exit(m.Run())
}

// servers runs f against an in-process nats-server with JetStream and
// against the machine's (skipped without it, failing under CI).
func servers(t *testing.T, f func(t *testing.T, url string)) {
	t.Run("embedded", func(t *testing.T) { f(t, queuetest.RunJetStream(t).ClientURL()) })
	t.Run("external", func(t *testing.T) { f(t, queuetest.External(t)) })
}

// recorder is a destination that counts each id it receives, per table.
type recorder struct {
	mu  sync.Mutex
	ids map[string]map[int64]int
}

func (r *recorder) fn(ctx context.Context, items []bridge.Row, t bridge.Table) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ids == nil {
		r.ids = map[string]map[int64]int{}
	}
	m := r.ids[t.Name]
	if m == nil {
		m = map[int64]int{}
		r.ids[t.Name] = m
	}
	for _, it := range items {
		m[it["id"].(int64)]++
	}
	return nil
}

// count is how many distinct ids of table arrived, -1 aside.
func (r *recorder) count(table string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := len(r.ids[table])
	if _, ok := r.ids[table][-1]; ok {
		n--
	}
	return n
}

// exactlyOnce fails unless table got ids 0..n-1 once each.
func (r *recorder) exactlyOnce(t *testing.T, table string, n int) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	var missing, twice []int64
	for id := range int64(n) {
		switch r.ids[table][id] {
		case 0:
			missing = append(missing, id)
		case 1:
		default:
			twice = append(twice, id)
		}
	}
	if len(missing) > 0 || len(twice) > 0 {
		t.Fatalf("table %s: %d ids missing (%v), %d more than once (%v); want 0..%d once each",
			table, len(missing), head(missing), len(twice), head(twice), n-1)
	}
}

func head(ids []int64) []int64 { return ids[:min(len(ids), 10)] }

// waitFor polls ok every 10 ms until it holds, failing after d.
func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// running runs p with src until the test ends; stop cancels the run and
// returns its error.
func running(t *testing.T, p *bridge.Pipeline, src bridge.Source) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := p.Run(ctx, src)
		done <- err
	}()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				err = fmt.Errorf("Run did not return within 30s of its context ending")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func pipeline(t *testing.T, rec *recorder) *bridge.Pipeline {
	t.Helper()
	p, err := bridge.NewPipeline(queuetest.UniqueName("natssrc"),
		bridge.NewDestination("d", rec.fn, bridge.BatchSize(100), bridge.FlushInterval(50*time.Millisecond)),
		bridge.WithDataDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func connect(t *testing.T, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

const messages = 5000

// 5,000 messages on a core NATS subject reach the destination, once each,
// in the table named by the subject's last token.
func TestSubjectDeliversAll(t *testing.T) {
	servers(t, func(t *testing.T, url string) {
		rec := &recorder{}
		p := pipeline(t, rec)
		subject := queuetest.UniqueName("in") + ".orders"
		src, err := natssource.New(natssource.Config{URL: url, Subject: subject})
		if err != nil {
			t.Fatal(err)
		}
		stop := running(t, p, src)
		nc := connect(t, url)
		// Core NATS keeps nothing for a subscriber yet to come: publish a
		// probe until one arrives.
		waitFor(t, 30*time.Second, "probe message through the pipeline", func() bool {
			if err := nc.Publish(subject, []byte(`{"id":-1}`)); err != nil {
				t.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond)
			rec.mu.Lock()
			defer rec.mu.Unlock()
			return rec.ids["orders"][-1] > 0
		})
		for i := range messages {
			if err := nc.Publish(subject, fmt.Appendf(nil, `{"id":%d,"name":"n%d"}`, i, i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 60*time.Second, fmt.Sprintf("%d messages delivered", messages), func() bool { return rec.count("orders") == messages })
		if err := stop(); err != nil && err != context.Canceled && !strings.Contains(err.Error(), "context canceled") {
			t.Fatalf("Run: %v", err)
		}
		rec.exactlyOnce(t, "orders", messages)
	})
}

// checked wraps a JetStream source: at each Commit it checks that the
// consumer acknowledged nothing read since the last Commit (acks come only
// from Commit, and the producer commits only after store), and afterwards
// that everything read is acknowledged.
type checked struct {
	*natssource.Source
	t         *testing.T
	cons      jetstream.Consumer
	read      uint64
	committed uint64
	commits   int
}

func (c *checked) Read(ctx context.Context) ([]producer.Record, error) {
	recs, err := c.Source.Read(ctx)
	c.read += uint64(len(recs))
	return recs, err
}

func (c *checked) Commit(ctx context.Context) error {
	info, err := c.cons.Info(ctx)
	if err != nil {
		return err
	}
	if info.AckFloor.Stream != c.committed {
		c.t.Errorf("before commit %d: the consumer's ack floor is %d, want %d (what the last commit covered)", c.commits+1, info.AckFloor.Stream, c.committed)
	}
	if err := c.Source.Commit(ctx); err != nil {
		return err
	}
	c.commits++
	c.committed = c.read
	info, err = c.cons.Info(ctx)
	if err != nil {
		return err
	}
	if info.AckFloor.Stream != c.read {
		c.t.Errorf("after commit %d: the consumer's ack floor is %d, want %d (everything read)", c.commits, info.AckFloor.Stream, c.read)
	}
	return nil
}

// makeStream makes a stream on subjects prefix.> holding n messages
// {"id":i} on prefix.t.
func makeStream(t *testing.T, url, name, prefix string, n int) jetstream.JetStream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nc := connect(t, url)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{prefix + ".>"}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !nc.IsConnected() {
			return // an in-process server, shut down already
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = js.DeleteStream(ctx, name)
	})
	for i := range n {
		if _, err := js.PublishAsync(prefix+".t", fmt.Appendf(nil, `{"id":%d}`, i)); err != nil {
			t.Fatal(err)
		}
		if i%500 == 499 || i == n-1 {
			select {
			case <-js.PublishAsyncComplete():
			case <-ctx.Done():
				t.Fatal("publishing the stream's messages: no acks within 60s")
			}
		}
	}
	return js
}

// 5,000 messages in a JetStream stream reach the destination once each, and
// the durable consumer acknowledges them only in Commit: at the end every
// message is acknowledged.
func TestStreamDeliversAllAcksAfterStore(t *testing.T) {
	servers(t, func(t *testing.T, url string) {
		rec := &recorder{}
		p := pipeline(t, rec)
		name := queuetest.UniqueName("SRC")
		js := makeStream(t, url, name, name, messages)
		src, err := natssource.New(natssource.Config{URL: url, Stream: name, Consumer: "bridge", Table: "t", MaxAckPending: 1000})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		c := &checked{Source: src, t: t}
		stop := running(t, p, c)
		waitFor(t, 30*time.Second, "the durable consumer", func() bool {
			cons, err := js.Consumer(ctx, name, "bridge")
			if err == nil {
				c.cons = cons // before the first Commit: nothing is read before the consumer exists
			}
			return err == nil
		})
		var info *jetstream.ConsumerInfo
		waitFor(t, 60*time.Second, "every message delivered and acknowledged", func() bool {
			info, err = c.cons.Info(ctx)
			return err == nil && rec.count("t") == messages && info.AckFloor.Stream == messages && info.NumAckPending == 0
		})
		if err := stop(); err != nil && !strings.Contains(err.Error(), "context canceled") {
			t.Fatalf("Run: %v", err)
		}
		rec.exactlyOnce(t, "t", messages)
		if c.commits < 2 {
			t.Errorf("%d commits, want several (one per flush interval)", c.commits)
		}
		if info.NumPending != 0 || info.NumRedelivered != 0 {
			t.Errorf("consumer: %d pending, %d redelivered; want 0", info.NumPending, info.NumRedelivered)
		}
	})
}

// A queue group shares a subject between two sources: each message reaches
// one of them.
func TestSubjectQueueGroupShares(t *testing.T) {
	url := queuetest.RunJetStream(t).ClientURL()
	subject := "shared.q"
	recs := []*recorder{{}, {}}
	for _, rec := range recs {
		p := pipeline(t, rec)
		src, err := natssource.FromURL(mustURL(t, url+"/"+subject+"?queue=workers&table=q"), nil)
		if err != nil {
			t.Fatal(err)
		}
		running(t, p, src)
	}
	nc := connect(t, url)
	// Both subscribed: the server counts 2 subscriptions on the subject's
	// queue group.
	waitFor(t, 30*time.Second, "both sources subscribed", func() bool {
		for _, rec := range recs {
			if rec.count("q") == 0 {
				_ = nc.Publish(subject, []byte(`{"id":-1}`))
				time.Sleep(10 * time.Millisecond)
				rec.mu.Lock()
				got := rec.ids["q"][-1] > 0
				rec.mu.Unlock()
				if !got {
					return false
				}
			}
		}
		return true
	})
	const n = 1000
	for i := range n {
		_ = nc.Publish(subject, fmt.Appendf(nil, `{"id":%d}`, i))
	}
	_ = nc.Flush()
	waitFor(t, 30*time.Second, "every message", func() bool { return recs[0].count("q")+recs[1].count("q") >= n })
	time.Sleep(200 * time.Millisecond)
	all := &recorder{ids: map[string]map[int64]int{"q": {}}}
	for _, rec := range recs {
		rec.mu.Lock()
		for id, k := range rec.ids["q"] {
			if id >= 0 {
				all.ids["q"][id] += k
			}
		}
		if len(rec.ids["q"]) < n/10 {
			t.Errorf("one source got %d of %d messages: the group did not share them", len(rec.ids["q"]), n)
		}
		rec.mu.Unlock()
	}
	all.exactlyOnce(t, "q", n)
}

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		url, want, err string
	}{
		{url: "nats://h:4222/orders.created", want: "nats://h:4222 orders.created q= s=/ table="},
		{url: "nats://u:p@h:4222/orders.*?queue=g&table=o", want: "nats://u:p@h:4222 orders.* q=g s=/ table=o"},
		{url: "nats://h/in.>?stream=S&consumer=C&ack_wait=1m&max_ack_pending=5", want: "nats://h in.> q= s=S/C table="},
		{url: "nats:///x", want: "nats://127.0.0.1:4222 x q= s=/ table="},
		{url: "nats://h/x?stream=S", err: "stream and consumer go together"},
		{url: "nats://h/", err: "no subject"},
		{url: "nats://h/x?bogus=1", err: `unknown option "bogus"`},
		{url: "nats://h/x?stream=S&consumer=C&queue=q", err: "queue is for a core NATS subject"},
		{url: "nats://h/x?ack_wait=10ms&stream=S&consumer=C", err: "want at least 1s"},
		{url: "nats://h/x?max_ack_pending=0", err: "positive number"},
	} {
		t.Run(tc.url, func(t *testing.T) {
			c, err := natssource.ParseURL(mustURL(t, tc.url))
			if err == nil {
				_, err = natssource.New(c)
			}
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want one saying %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := fmt.Sprintf("%s %s q=%s s=%s/%s table=%s", c.URL, c.Subject, c.Queue, c.Stream, c.Consumer, c.Table)
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
