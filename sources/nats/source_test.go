package natssource_test

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fanoutbridge/bridge/internal/queuetest"
	"github.com/fanoutbridge/bridge/producer"
	natssource "github.com/fanoutbridge/bridge/sources/nats"
)

// Driven by hand, like the producer does: JetStream messages are
// acknowledged in Commit and not before; those read and not committed are
// handed out again after Close (negatively acknowledged), and Close leaves no
// goroutine behind.
func TestStreamAckOnlyInCommit(t *testing.T) {
	servers(t, testStreamAckOnlyInCommit)
}

func testStreamAckOnlyInCommit(t *testing.T, url string) {
	name := queuetest.UniqueName("HAND")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	js := makeStream(t, url, name, name, 10)
	info := func() (ackFloor uint64, pending int) {
		t.Helper()
		cons, err := js.Consumer(ctx, name, "c")
		if err != nil {
			t.Fatal(err)
		}
		i, err := cons.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return i.AckFloor.Stream, i.NumAckPending
	}
	read := func(src *natssource.Source, want int) []producer.Record {
		t.Helper()
		var all []producer.Record
		deadline := time.Now().Add(30 * time.Second)
		for len(all) < want && time.Now().Before(deadline) {
			rctx, rcancel := context.WithTimeout(ctx, time.Second)
			recs, err := src.Read(rctx)
			rcancel()
			if err != nil && rctx.Err() == nil {
				t.Fatal(err)
			}
			all = append(all, recs...)
		}
		if len(all) != want {
			cons, _ := js.Consumer(ctx, name, "c")
			ci, _ := cons.Info(ctx)
			var ids []string
			for _, r := range all {
				ids = append(ids, string(r.Data))
			}
			t.Fatalf("read %d records %v, want %d; consumer %+v %+v pending %d waiting %d redelivered %d", len(all), ids, want, ci.Delivered, ci.AckFloor, ci.NumAckPending, ci.NumWaiting, ci.NumRedelivered)
		}
		return all
	}
	open := func() *natssource.Source {
		t.Helper()
		src, err := natssource.New(natssource.Config{URL: url, Stream: name, Consumer: "c", MaxAckPending: 4, AckWait: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if err := src.Open(ctx, producer.Env{}); err != nil {
			t.Fatal(err)
		}
		return src
	}

	src := open()
	recs := read(src, 4) // the window: 4 unacknowledged at most
	if recs[0].Table != "t" || string(recs[0].Data) != `{"id":0}` || recs[0].Where != "stream "+name+" sequence 1" {
		t.Fatalf("first record %+v", recs[0])
	}
	if floor, pending := info(); floor != 0 || pending != 4 {
		t.Fatalf("before Commit: ack floor %d, %d pending; want 0 and 4", floor, pending)
	}
	if err := src.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if floor, _ := info(); floor != 4 {
		t.Fatalf("after Commit: ack floor %d, want 4", floor)
	}
	read(src, 4) // ids 4..7 read, not committed
	if err := src.Close(ctx); err != nil {
		t.Fatal(err)
	}
	before := runtime.NumGoroutine()
	// The next source gets them again at once (Close naked them), then
	// the rest.
	for range 3 {
		src = open()
		recs = read(src, 4)
		got := map[string]bool{}
		for _, r := range recs {
			got[string(r.Data)] = true
		}
		for id := 4; id <= 7; id++ {
			if !got[fmt.Sprintf(`{"id":%d}`, id)] {
				t.Fatalf("after a Close without Commit, read %v: want ids 4..7 again", got)
			}
		}
		if err := src.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines: %d before, %d after\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Messages held past the ack wait (the producer waits for its stream, say)
// are kept with in-progress signals, not delivered again.
func TestStreamHeldPastAckWait(t *testing.T) {
	url := queuetest.RunJetStream(t).ClientURL()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	js := makeStream(t, url, "HELD", "held", 4)
	src, err := natssource.New(natssource.Config{URL: url, Stream: "HELD", Consumer: "c", AckWait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Open(ctx, producer.Env{}); err != nil {
		t.Fatal(err)
	}
	defer src.Close(ctx)
	n := 0
	for n < 4 {
		rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
		recs, err := src.Read(rctx)
		rcancel()
		if err != nil {
			t.Fatal(err)
		}
		n += len(recs)
	}
	time.Sleep(3500 * time.Millisecond) // 3.5 ack waits
	cons, err := js.Consumer(ctx, "HELD", "c")
	if err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.NumRedelivered != 0 || info.Delivered.Consumer != 4 || info.NumAckPending != 4 {
		t.Fatalf("after 3.5 ack waits held: %d redelivered, %d deliveries, %d pending; want 0, 4, 4", info.NumRedelivered, info.Delivered.Consumer, info.NumAckPending)
	}
	if err := src.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if info, err = cons.Info(ctx); err != nil || info.AckFloor.Stream != 4 {
		t.Fatalf("after Commit: %v, ack floor %d; want 4", err, info.AckFloor.Stream)
	}
}

// The source's server restarts mid-stream: the source reconnects and every
// message is delivered, and acknowledged in the end.
func TestStreamSurvivesServerRestart(t *testing.T) {
	dir := t.TempDir()
	srv := queuetest.RunJetStreamAt(t, dir, -1)
	port := srv.Addr().(*net.TCPAddr).Port
	url := srv.ClientURL()
	name := "RESTART"
	makeStream(t, url, name, "restart", messages)
	rec := &recorder{}
	p := pipeline(t, rec)
	src, err := natssource.New(natssource.Config{URL: url, Stream: name, Consumer: "c", Table: "t", MaxAckPending: 500})
	if err != nil {
		t.Fatal(err)
	}
	stop := running(t, p, src)
	waitFor(t, 60*time.Second, "1,000 messages before the restart", func() bool { return rec.count("t") >= 1000 })
	srv.Shutdown()
	srv.WaitForShutdown()
	time.Sleep(500 * time.Millisecond)
	srv = queuetest.RunJetStreamAt(t, dir, port)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	js, err := jetstream.New(connect(t, url))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 90*time.Second, "every message delivered and acknowledged after the restart", func() bool {
		if rec.count("t") < messages {
			return false
		}
		cons, err := js.Consumer(ctx, name, "c")
		if err != nil {
			return false
		}
		info, err := cons.Info(ctx)
		return err == nil && info.AckFloor.Stream == messages && info.NumAckPending == 0
	})
	if err := stop(); err != nil && !strings.Contains(err.Error(), "context canceled") {
		t.Fatalf("Run: %v", err)
	}
	_ = js.DeleteStream(ctx, name) // while the server that holds it runs
}

// A stream that does not exist is an error on Open that says what to do.
func TestStreamMissing(t *testing.T) {
	url := queuetest.RunJetStream(t).ClientURL()
	src, err := natssource.New(natssource.Config{URL: url, Stream: "NOPE", Consumer: "c"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := src.Open(ctx, producer.Env{}); err == nil || !strings.Contains(err.Error(), `stream "NOPE"`) || !strings.Contains(err.Error(), "make it first") {
		t.Fatalf("Open: %v, want an error naming the stream and saying to make it", err)
	}
	if err := src.Close(ctx); err != nil {
		t.Fatalf("Close after a failed Open: %v", err)
	}
}
