package natssink_test

import (
	"context"
	"testing"

	"github.com/fanoutbridge/bridge/internal/queuetest"
	natssink "github.com/fanoutbridge/bridge/sinks/nats"
	"github.com/fanoutbridge/bridge/sinktest"
)

// The sink passes the conformance suite on both servers, in both modes:
// JetStream with de-duplication by batch id is exactly once.
func TestConformance(t *testing.T) {
	forEachTarget(t, func(t *testing.T, url string) {
		for _, mode := range []string{natssink.ModeRows, natssink.ModeBatch} {
			t.Run(mode, func(t *testing.T) {
				sinktest.Run(t, sinktest.Harness{
					ExactlyOnce: true,
					New: func(t *testing.T) sinktest.Target {
						name := queuetest.UniqueName("conf")
						js := jsOf(t, url, name)
						s, err := natssink.New(natssink.Config{URL: url, Subject: name + ".{table}", Mode: mode, JetStream: true, Stream: name}, nil)
						if err != nil {
							t.Fatal(err)
						}
						return sinktest.Target{Sink: s, Read: func(ctx context.Context, table string) ([]sinktest.Got, error) {
							var out []sinktest.Got
							for _, g := range readStream(ctx, t, js, name) {
								if g.Table == table {
									out = append(out, sinktest.Got{ID: g.ID, BatchID: g.BatchID})
								}
							}
							return out, nil
						}}
					},
				})
			})
		}
	})
}
