package bridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fanoutbridge/bridge/producer"
	"github.com/fanoutbridge/bridge/sink"
)

// burstSource hands out bursts of records, a little apart, then io.EOF. At
// each Commit it checks, through check, that what it read is stored.
type burstSource struct {
	bursts  [][]producer.Record
	read    int
	commits []int
	check   func(ctx context.Context, read int) error
	opened  producer.Env
	closed  bool
	first   chan struct{} // closed at the first Commit
}

func (s *burstSource) Open(ctx context.Context, env producer.Env) error {
	s.opened = env
	return nil
}

func (s *burstSource) Read(ctx context.Context) ([]producer.Record, error) {
	if len(s.bursts) == 0 {
		return nil, io.EOF
	}
	select {
	case <-time.After(30 * time.Millisecond):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	b := s.bursts[0]
	s.bursts = s.bursts[1:]
	s.read += len(b)
	return b, nil
}

func (s *burstSource) Commit(ctx context.Context) error {
	s.commits = append(s.commits, s.read)
	if len(s.commits) == 1 {
		defer close(s.first)
	}
	if err := s.check(ctx, s.read); err != nil {
		return err
	}
	return saveCursor(ctx, s.opened.Cursors, "burst", s.read)
}

// saveCursor stores n under key with compare-and-set, as a source keeps
// its position.
func saveCursor(ctx context.Context, kv sink.KV, key string, n int) error {
	v := []byte(strconv.Itoa(n))
	for {
		_, rev, err := kv.Get(ctx, key)
		switch {
		case errors.Is(err, sink.ErrNotFound):
			_, err = kv.Create(ctx, key, v)
		case err == nil:
			_, err = kv.Update(ctx, key, v, rev)
		}
		if !errors.Is(err, sink.ErrRevisionMismatch) {
			return err
		}
	}
}

func (s *burstSource) Close(ctx context.Context) error {
	s.closed = true
	return nil
}

// A Source is served by the producer loop: every record is delivered, each
// to the table it names, a bad record is reported with where it came from,
// and Commit comes only once what was read is stored in the stream.
func TestSourceCommitsAfterStore(t *testing.T) {
	ctx := ctxT(t)
	e := newEnv(t, backends[0])
	release := make(chan struct{})
	var mu sync.Mutex
	got := map[string]int{}
	fn := func(ctx context.Context, items []Row, table Table) error {
		<-release // nothing is acknowledged, so the stream keeps every batch
		mu.Lock()
		got[table.Name] += len(items)
		mu.Unlock()
		return nil
	}
	p := e.open(NewDestination("d", fn, BatchSize(1), FlushInterval(50*time.Millisecond)))
	src := &burstSource{}
	n := 0
	for b := range 6 {
		var burst []producer.Record
		for range 5 {
			n++
			table := "a"
			if n%2 == 0 {
				table = "b"
			}
			burst = append(burst, producer.Record{Data: fmt.Appendf(nil, `{"id":%d}`, n), Table: table})
		}
		if b == 3 {
			burst = append(burst, producer.Record{Data: []byte(`{"id":`), Where: "partition 0 offset 17"})
		}
		src.bursts = append(src.bursts, burst)
	}
	src.check = func(ctx context.Context, read int) error {
		s, err := p.q.JetStream().Stream(ctx, p.q.StreamName())
		if err != nil {
			return err
		}
		info, err := s.Info(ctx)
		if err != nil {
			return err
		}
		good := read
		if read > 20 {
			good-- // the bad record
		}
		if int(info.State.Msgs) < good {
			return fmt.Errorf("commit after %d good records read, but the stream holds %d batches of 1 row", good, info.State.Msgs)
		}
		return nil
	}
	src.first = make(chan struct{})
	go func() {
		<-src.first
		time.Sleep(300 * time.Millisecond)
		close(release)
	}()
	info, err := p.Run(ctx, src)
	if !errors.Is(err, ErrBadInput) || len(info.BadRecords) != 1 || !strings.Contains(info.BadRecords[0].Error(), "partition 0 offset 17") {
		t.Fatalf("Run: %v, bad records %v: want one bad record naming where it came from", err, info.BadRecords)
	}
	mu.Lock()
	defer mu.Unlock()
	if got["a"] != 15 || got["b"] != 15 {
		t.Errorf("delivered %v, want 15 rows in a and in b", got)
	}
	if len(src.commits) == 0 || src.commits[len(src.commits)-1] != 31 {
		t.Errorf("commits after %v records, want the last after all 31", src.commits)
	}
	if src.opened.Cursors == nil || src.opened.Pipeline != e.name || !src.closed {
		t.Errorf("source opened with %+v, closed %v", src.opened, src.closed)
	}
	// The cursor lives in the pipeline's state: another pipeline object
	// (another process, a wiped data directory) reads it back.
	p.Close()
	other, err := NewProducer(e.name, e.b.opts(t, e.dir)...)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	next := &burstSource{}
	if _, err := other.Produce(ctx, next); err != nil {
		t.Fatal(err)
	}
	if v, _, err := next.opened.Cursors.Get(ctx, "burst"); err != nil || string(v) != "31" {
		t.Errorf("cursor read back by another pipeline: %q, %v; want 31", v, err)
	}
}
