package bridge

import (
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/fanoutbridge/bridge/internal/queuetest"
)

// BenchmarkScaleWorkers measures how delivery scales with worker processes:
// a function that sleeps 20 ms per call (4 calls at once per worker), 1, 2
// and 4 worker processes on the same load of 2,000 batches. It reports
// batches/s; compare the sub-benchmarks of one run with each other (the
// machine is shared and noisy). Run it with
//
//	go test -run '^$' -bench ScaleWorkers -benchtime 1x .
func BenchmarkScaleWorkers(b *testing.B) {
	const batches, batch = 2000, 10
	for _, n := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("workers=%d", n), func(b *testing.B) {
			for range b.N {
				e := &env{b: backends[0], name: queuetest.UniqueName("scale"), dir: b.TempDir()}
				prod, err := NewProducer(e.name, WithDataDir(e.dir))
				if err != nil {
					b.Fatal(err)
				}
				var ws []*worker
				for i := range n {
					ws = append(ws, startWorker(b, e, fmt.Sprint(i), batch, 20*time.Millisecond))
				}
				start := time.Now()
				if _, err := prod.Produce(b.Context(), faultItems(batches*batch), TableName("t")); err != nil {
					b.Fatal(err)
				}
				deadline := time.Now().Add(5 * time.Minute)
				for {
					done := 0
					for _, w := range ws {
						done += lines(w.out)
					}
					if done >= batches {
						break
					}
					if time.Now().After(deadline) {
						b.Fatalf("%d of %d batches delivered in 5 minutes", done, batches)
					}
					time.Sleep(5 * time.Millisecond)
				}
				elapsed := time.Since(start)
				b.ReportMetric(float64(batches)/elapsed.Seconds(), "batches/s")
				for _, w := range ws {
					_ = w.cmd.Process.Signal(syscall.SIGTERM)
					<-w.done
				}
				prod.Close()
				os.RemoveAll(e.dir)
			}
		})
	}
}
