package bridge

import (
	"runtime"
	"testing"
	"time"
)

// A pipeline leaves no goroutine behind once closed: every goroutine it
// starts (fetching, workers, keep-alive, encoders, publisher, the embedded
// server) is owned and stopped.
func TestNoGoroutineLeak(t *testing.T) {
	run := func() {
		rec := &recorder{}
		p, err := NewPipeline("leak", NewDestination("d", rec.fn, BatchSize(7)), WithDataDir(t.TempDir()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Run(ctxT(t), idValueItems(100), TableName("t")); err != nil {
			t.Fatal(err)
		}
		p.Close()
	}
	run() // warm up what lives for the process (timers, pools)
	before := runtime.NumGoroutine()
	for range 3 {
		run()
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
