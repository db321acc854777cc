package httpsource_test

import (
	"context"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/fanoutbridge/bridge/producer"
	httpsource "github.com/fanoutbridge/bridge/sources/http"
)

// Driven by hand, like the producer does: a request is answered only after
// the Commit that follows the Read of its rows; Close answers what was read
// and not committed with 503, and leaves no goroutine behind.
func TestAnswerOnlyAfterCommit(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{DisableKeepAlives: true}}
	round := func() {
		src, err := httpsource.New(httpsource.Config{Addr: "127.0.0.1:0"})
		if err != nil {
			t.Fatal(err)
		}
		if err := src.Open(ctx, producer.Env{}); err != nil {
			t.Fatal(err)
		}
		base := "http://" + src.Addr() + "/ingest/t"
		answered := make(chan int, 2)
		postAsync := func(body string) {
			go func() {
				code, _ := post(t, client, base, strings.NewReader(body))
				answered <- code
			}()
		}
		postAsync("{\"id\":1}\n{\"id\":2}\n")
		rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
		recs, err := src.Read(rctx)
		rcancel()
		if err != nil || len(recs) != 2 || recs[0].Table != "t" || string(recs[1].Data) != `{"id":2}` {
			t.Fatalf("Read: %v, %d records %+v", err, len(recs), recs)
		}
		select {
		case code := <-answered:
			t.Fatalf("answered %d before Commit", code)
		case <-time.After(200 * time.Millisecond):
		}
		if err := src.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if code := <-answered; code != http.StatusAccepted {
			t.Fatalf("after Commit: %d, want 202", code)
		}
		// Read, not committed, then Close: 503.
		postAsync("{\"id\":3}\n")
		rctx, rcancel = context.WithTimeout(ctx, 10*time.Second)
		if recs, err := src.Read(rctx); err != nil || len(recs) != 1 {
			t.Fatalf("Read: %v, %d records", err, len(recs))
		}
		rcancel()
		if err := src.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if code := <-answered; code != http.StatusServiceUnavailable {
			t.Fatalf("read, not committed, closed: %d, want 503", code)
		}
	}
	round() // warm up what lives for the process
	before := runtime.NumGoroutine()
	for range 3 {
		round()
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
