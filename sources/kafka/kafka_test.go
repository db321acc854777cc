package kafka_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap/zaptest"

	"github.com/fanoutbridge/bridge"
	"github.com/fanoutbridge/bridge/producer"
	"github.com/fanoutbridge/bridge/sources/kafka"
)

// The source delivers every message of a topic's partitions, routed by a
// field, reports a value that is not JSON with where it came from (and
// goes on past it), and commits the group's offsets up to the topic's end.
func TestSourceDeliversAndCommits(t *testing.T) {
	const n, partitions = 1000, 2
	c := newCluster(t, partitions, "orders")
	addr := c.ListenAddrs()[0]
	var values [][]byte
	bad := map[int]bool{100: true, 501: true, 999: true}
	for i := range n {
		if bad[i] {
			values = append(values, []byte(`{"id":`))
			continue
		}
		values = append(values, fmt.Appendf(nil, `{"id":%d,"type":"t%d"}`, i, i%3))
	}
	produce(t, newProducer(t, c.ListenAddrs()), "orders", partitions, values)

	u, err := url.Parse("kafka://" + addr + "/orders?group=g1&table_field=type&session_timeout=1s")
	if err != nil {
		t.Fatal(err)
	}
	src, err := kafka.FromURL(u, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	got := map[string]map[int64]int{}
	total := 0
	all := make(chan struct{})
	fn := func(ctx context.Context, items []bridge.Row, table bridge.Table) error {
		mu.Lock()
		defer mu.Unlock()
		if got[table.Name] == nil {
			got[table.Name] = map[int64]int{}
		}
		for _, it := range items {
			got[table.Name][it["id"].(int64)]++
			if total++; total == n-len(bad) {
				close(all)
			}
		}
		return nil
	}
	p, err := bridge.NewPipeline("kafkasrc", bridge.NewDestination("d", fn, bridge.BatchSize(100), bridge.FlushInterval(20*time.Millisecond)),
		bridge.WithDataDir(t.TempDir()), bridge.WithLogger(zaptest.NewLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	type result struct {
		info *bridge.LoadInfo
		err  error
	}
	done := make(chan result, 1)
	go func() {
		info, err := p.Run(ctx, src)
		done <- result{info, err}
	}()
	select {
	case <-all:
	case r := <-done:
		t.Fatalf("Run ended before every message arrived: %v", r.err)
	case <-time.After(waitFor):
		t.Fatalf("%d of %d messages delivered in %s", total, n-len(bad), waitFor)
	}
	waitCommitted(t, addr, "g1", "orders", partitions)
	cancel()
	r := <-done
	if !errors.Is(r.err, context.Canceled) && !errors.Is(r.err, bridge.ErrBadInput) {
		t.Fatalf("Run after cancel: %v", r.err)
	}
	mu.Lock()
	defer mu.Unlock()
	for i := range n {
		table := fmt.Sprintf("t%d", i%3)
		if c := got[table][int64(i)]; c != 1 && !bad[i] {
			t.Fatalf("message %d delivered %d times to %s (want once: nothing was re-read)", i, c, table)
		}
	}
	if total != n-len(bad) {
		t.Fatalf("delivered %d rows, want %d", total, n-len(bad))
	}
	if r.info == nil || len(r.info.BadRecords) != len(bad) {
		t.Fatalf("bad records %v, want the %d values that are not JSON", r.info, len(bad))
	}
	for _, e := range r.info.BadRecords {
		if !strings.Contains(e.Error(), "topic orders partition ") || !strings.Contains(e.Error(), " offset ") {
			t.Fatalf("bad record %q does not say where it came from", e)
		}
	}
}

// One group reads several topics; table= names the table of all of them,
// and Commit commits each partition's offset after the last record read.
func TestSourceTopicsAndTable(t *testing.T) {
	c := newCluster(t, 2, "alpha", "beta")
	addr := c.ListenAddrs()[0]
	cl := newProducer(t, c.ListenAddrs())
	for _, topic := range []string{"alpha", "beta"} {
		var values [][]byte
		for i := range 50 {
			values = append(values, fmt.Appendf(nil, `{"id":%d}`, i))
		}
		produce(t, cl, topic, 2, values)
	}
	// Each case reads the topics from the start, in a group of its own.
	for _, tc := range []struct{ group, query, alpha, beta string }{
		{"g1", "", "alpha", "beta"},
		{"g2", "&table=events", "events", "events"},
	} {
		u, _ := url.Parse("kafka://" + addr + "/alpha,beta?group=" + tc.group + tc.query + "&session_timeout=1s&max_records=7")
		src, err := kafka.FromURL(u, zaptest.NewLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		ctx := ctxT(t)
		if err := src.Open(ctx, producer.Env{}); err != nil {
			t.Fatal(err)
		}
		tables := map[string]string{}
		for n := 0; n < 100; {
			rctx, cancel := context.WithTimeout(ctx, waitFor)
			recs, err := src.Read(rctx)
			cancel()
			if err != nil {
				t.Fatalf("Read after %d records: %v", n, err)
			}
			if len(recs) > 7 {
				t.Fatalf("Read returned %d records, over max_records=7", len(recs))
			}
			for _, r := range recs {
				topic, _, _ := strings.Cut(strings.TrimPrefix(r.Where, "topic "), " ")
				tables[topic] = r.Table
			}
			n += len(recs)
		}
		if tables["alpha"] != tc.alpha || tables["beta"] != tc.beta {
			t.Errorf("%q: tables %v, want alpha in %s and beta in %s", tc.query, tables, tc.alpha, tc.beta)
		}
		if err := src.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		waitCommitted(t, addr, tc.group, "alpha", 2)
		waitCommitted(t, addr, tc.group, "beta", 2)
		if err := src.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// A failed commit is retried with the next one (or at Close), not lost;
// one that fails for longer than FailAfter is an error.
func TestCommitFailures(t *testing.T) {
	c := newCluster(t, 2, "flaky")
	addr := c.ListenAddrs()[0]
	var values [][]byte
	for i := range 20 {
		values = append(values, fmt.Appendf(nil, `{"id":%d}`, i))
	}
	produce(t, newProducer(t, c.ListenAddrs()), "flaky", 2, values)
	var mu sync.Mutex
	failing := false
	c.ControlKey(int16(kmsg.OffsetCommit), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		mu.Lock()
		defer mu.Unlock()
		if !failing {
			return nil, nil, false
		}
		r := req.(*kmsg.OffsetCommitRequest)
		resp := r.ResponseKind().(*kmsg.OffsetCommitResponse)
		for _, rt := range r.Topics {
			st := kmsg.NewOffsetCommitResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewOffsetCommitResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = kerr.UnknownServerError.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	setFailing := func(f bool) {
		mu.Lock()
		failing = f
		mu.Unlock()
	}
	readAll := func(src *kafka.Source, n int) {
		t.Helper()
		for got := 0; got < n; {
			rctx, cancel := context.WithTimeout(ctxT(t), waitFor)
			recs, err := src.Read(rctx)
			cancel()
			if err != nil {
				t.Fatalf("Read after %d records: %v", got, err)
			}
			got += len(recs)
		}
	}
	ctx := ctxT(t)

	src, err := kafka.New(kafka.Config{Brokers: []string{addr}, Topics: []string{"flaky"}, Group: "g", SessionTimeout: time.Second,
		Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Open(ctx, producer.Env{}); err != nil {
		t.Fatal(err)
	}
	readAll(src, 20)
	setFailing(true)
	if err := src.Commit(ctx); err != nil {
		t.Fatalf("a commit that failed once: %v, want it logged and kept for the next", err)
	}
	if got, err := committed(ctx, addr, "g", "flaky", 2); err != nil || got[0] >= 0 || got[1] >= 0 {
		t.Fatalf("committed %v (%v) while commits fail", got, err)
	}
	setFailing(false)
	if err := src.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	waitCommitted(t, addr, "g", "flaky", 2) // Close committed what the failed commit held

	produce(t, newProducer(t, c.ListenAddrs()), "flaky", 2, values)
	src, err = kafka.New(kafka.Config{Brokers: []string{addr}, Topics: []string{"flaky"}, Group: "g", SessionTimeout: time.Second,
		FailAfter: 50 * time.Millisecond, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Open(ctx, producer.Env{}); err != nil {
		t.Fatal(err)
	}
	readAll(src, 20)
	setFailing(true)
	if err := src.Commit(ctx); err != nil {
		t.Fatalf("first failed commit: %v", err)
	}
	time.Sleep(60 * time.Millisecond)
	err = src.Commit(ctx)
	if err == nil || !strings.Contains(err.Error(), "committing offsets has failed for") {
		t.Fatalf("commits failing past FailAfter: %v, want an error", err)
	}
	setFailing(false)
	if err := src.Commit(ctx); err != nil {
		t.Fatalf("a commit once the broker takes them again: %v", err)
	}
	waitCommitted(t, addr, "g", "flaky", 2)
	if err := src.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// Two sources in one group share the topic's partitions: each reads some,
// together they read every message, and their commits reach the end.
func TestTwoMembersShareTheGroup(t *testing.T) {
	c := newCluster(t, 2, "shared")
	addr := c.ListenAddrs()[0]
	cl := newProducer(t, c.ListenAddrs())
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	var mu sync.Mutex
	seen := map[int64]bool{}
	perMember := [2]int{}
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for m := range 2 {
		src, err := kafka.New(kafka.Config{Brokers: []string{addr}, Topics: []string{"shared"}, Group: "pair", SessionTimeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if err := src.Open(ctx, producer.Env{}); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			defer func() {
				cctx, ccancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer ccancel()
				_ = src.Close(cctx)
			}()
			for ctx.Err() == nil {
				recs, err := src.Read(ctx)
				if err != nil {
					if ctx.Err() == nil {
						errs <- err
					}
					return
				}
				mu.Lock()
				for _, r := range recs {
					var v struct{ ID int64 }
					if err := json.Unmarshal(r.Data, &v); err != nil {
						errs <- err
					}
					seen[v.ID] = true
				}
				perMember[m] += len(recs)
				mu.Unlock()
				if err := src.Commit(ctx); err != nil && ctx.Err() == nil {
					errs <- err
					return
				}
			}
		})
	}
	// Produce until both members have read some (the second joins a little
	// after the first).
	sent := 0
	deadline := time.Now().Add(waitFor)
	for {
		var values [][]byte
		for range 20 {
			values = append(values, fmt.Appendf(nil, `{"id":%d}`, sent))
			sent++
		}
		produce(t, cl, "shared", 2, values)
		mu.Lock()
		both := perMember[0] > 0 && perMember[1] > 0
		mu.Unlock()
		if both && sent >= 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s, members read %v messages: want both to read some", waitFor, perMember)
		}
		time.Sleep(20 * time.Millisecond)
	}
	waitCommitted(t, addr, "pair", "shared", 2)
	cancel()
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	mu.Lock()
	defer mu.Unlock()
	for id := range int64(sent) {
		if !seen[id] {
			t.Fatalf("message %d not read by either member (they read %v)", id, perMember)
		}
	}
	t.Logf("%d messages; the members read %v", sent, perMember)
}
