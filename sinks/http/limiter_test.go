package httpsink

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/fanoutbridge/bridge/internal/queuetest"
	"github.com/fanoutbridge/bridge/queue"
	"github.com/fanoutbridge/bridge/sink"
	"github.com/fanoutbridge/bridge/state"
)

// sharedKVs returns n handles, each on its own connection as a worker
// process has, to the shared store of destination "hook" in a pipeline's
// state bucket on an in-process nats-server.
func sharedKVs(t *testing.T, n int) []sink.KV {
	t.Helper()
	srv := queuetest.RunJetStream(t)
	name := queuetest.UniqueName("hs")
	var kvs []sink.KV
	for range n {
		nc, err := nats.Connect(srv.ClientURL())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		q, err := queue.Open(ctxT(t), nc, queue.Config{Pipeline: name})
		if err != nil {
			t.Fatal(err)
		}
		st, err := state.Open(ctxT(t), q)
		if err != nil {
			t.Fatal(err)
		}
		kvs = append(kvs, st.SinkKV("hook"))
	}
	return kvs
}

// countingKV counts the calls to a store.
type countingKV struct {
	sink.KV
	calls atomic.Int64
}

func (k *countingKV) Get(ctx context.Context, key string) ([]byte, uint64, error) {
	k.calls.Add(1)
	return k.KV.Get(ctx, key)
}

func (k *countingKV) Create(ctx context.Context, key string, v []byte) (uint64, error) {
	k.calls.Add(1)
	return k.KV.Create(ctx, key, v)
}

func (k *countingKV) Update(ctx context.Context, key string, v []byte, rev uint64) (uint64, error) {
	k.calls.Add(1)
	return k.KV.Update(ctx, key, v, rev)
}

// Four processes' limiters on one shared store keep to one budget between
// them, with fewer NATS round trips than requests.
func TestLimiterSharedBudget(t *testing.T) {
	const (
		rate    = 50.0
		workers = 4
		callers = 4 // requests at once per worker
		run     = 3 * time.Second
	)
	var lims []*limiter
	var kvs []*countingKV
	for _, kv := range sharedKVs(t, workers) {
		ck := &countingKV{KV: kv}
		kvs = append(kvs, ck)
		lims = append(lims, newLimiter(ck, rateConfig{start: rate, max: rate, min: 1, increase: 1}))
	}
	ctx, cancel := context.WithTimeout(ctxT(t), run)
	defer cancel()
	var sent atomic.Int64
	var wg sync.WaitGroup
	for _, l := range lims {
		for range callers {
			wg.Go(func() {
				for l.Wait(ctx) == nil {
					sent.Add(1)
				}
			})
		}
	}
	wg.Wait()
	var calls int64
	for _, k := range kvs {
		calls += k.calls.Load()
	}
	n := float64(sent.Load())
	t.Logf("%d workers × %d callers: %.0f requests in %v (%.1f/s), %d NATS round trips", workers, callers, n, run, n/run.Seconds(), calls)
	if limit := rate*run.Seconds() + 5; n > limit {
		t.Errorf("%.0f requests in %v: over the shared budget of %.0f", n, run, limit)
	}
	if low := 0.6 * rate * run.Seconds(); n < low {
		t.Errorf("%.0f requests in %v: under %.0f, the limit wastes its budget", n, run, low)
	}
	if float64(calls) >= n {
		t.Errorf("%d round trips for %.0f requests: want fewer", calls, n)
	}
}

// A 429 halves the rate once however many requests see it, then the rate
// recovers by the increase per second up to the max.
func TestLimiterAIMD(t *testing.T) {
	kvs := sharedKVs(t, 2)
	cfg := rateConfig{start: 40, max: 80, min: 5, increase: 10}
	a, b := newLimiter(kvs[0], cfg), newLimiter(kvs[1], cfg)
	ctx := ctxT(t)
	if r, err := a.Rate(ctx); err != nil || r != 40 {
		t.Fatalf("rate %v (%v), want the start rate 40", r, err)
	}
	from, to, err := a.Throttled(ctx)
	if err != nil || from != 40 || to != 20 {
		t.Fatalf("throttled: %v -> %v (%v), want 40 -> 20", from, to, err)
	}
	// The other worker's requests in flight saw 429s too: no second cut.
	if _, to, err := b.Throttled(ctx); err != nil || to < 20 || to > 21 {
		t.Fatalf("second cut within %v: to %v (%v), want it left at 20", cutEvery, to, err)
	}
	time.Sleep(500 * time.Millisecond)
	r, err := b.Rate(ctx)
	if err != nil || r < 24 || r > 27 {
		t.Fatalf("rate %v half a second after the cut (%v), want about 25 (20 + 10/s)", r, err)
	}

	// A second later the next 429 cuts again, whichever worker saw it.
	time.Sleep(cutEvery - 400*time.Millisecond)
	from, to, err = b.Throttled(ctx)
	if err != nil || from < 29 || from > 33 || to != from/2 {
		t.Fatalf("throttled %v after the first cut: %v -> %v (%v), want about 31 -> 15.5", cutEvery+100*time.Millisecond, from, to, err)
	}

	// Recovery stops at the max; the floor holds.
	s := rateState{Rate: 20, Since: 1}
	if r := s.current(cfg, 1+int64(100*time.Second)); r != 80 {
		t.Errorf("rate after 100s: %v, want the max 80", r)
	}
	s = rateState{Rate: 1, Since: 1}
	if r := s.current(cfg, 1); r != 5 {
		t.Errorf("rate %v, want the min 5", r)
	}
}

// Without a shared store the sink paces its requests by itself.
func TestLocalLimit(t *testing.T) {
	rec := newRecorder(t, nil)
	s := newSink(t, Config{URL: rec.srv.URL, Rate: 20, MinRate: 1, RateIncrease: 1})
	if err := s.Connect(ctxT(t), sink.Env{Pipeline: "p", Destination: "hook"}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 5 {
				if err := s.Write(ctxT(t), testBatch()); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	// 20 requests at 20/s: the first goes at once, the last after 19/20 s.
	if d := time.Since(start); d < 900*time.Millisecond || d > 3*time.Second {
		t.Errorf("20 requests at 20/s took %v, want about 1s", d)
	}
	if n := len(rec.requests()); n != 20 {
		t.Errorf("%d requests, want 20", n)
	}
}
