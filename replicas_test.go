package bridge

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fanoutbridge/bridge/internal/queuetest"
)

// WithReplicas takes 1 to 5, and more than 1 only with an external server;
// a server that is not in a cluster refuses more than 1 with ErrReplicas.
func TestWithReplicasOption(t *testing.T) {
	dest := func() *Destination {
		return NewDestination("d", func(context.Context, []Row, Table) error { return nil })
	}
	for _, tc := range []struct {
		name     string
		opts     func(t *testing.T) []PipelineOption
		wantErr  error
		wantText string
	}{
		{"zero", func(*testing.T) []PipelineOption { return []PipelineOption{WithReplicas(0)} }, ErrInvalidOption, "want 1 to 5"},
		{"six", func(*testing.T) []PipelineOption { return []PipelineOption{WithReplicas(6)} }, ErrInvalidOption, "want 1 to 5"},
		{"embedded R3", func(*testing.T) []PipelineOption { return []PipelineOption{WithReplicas(3)} }, ErrInvalidOption, "embedded NATS server keeps one copy"},
		{"single server R3", func(t *testing.T) []PipelineOption {
			return []PipelineOption{WithReplicas(3), WithNATSURL(queuetest.External(t))}
		}, ErrReplicas, "not part of a cluster"},
		{"embedded R1", func(*testing.T) []PipelineOption { return []PipelineOption{WithReplicas(1)} }, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := append(tc.opts(t), WithDataDir(t.TempDir()))
			p, err := NewPipeline(queuetest.UniqueName("r"), dest(), opts...)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				p.Close()
				return
			}
			if err == nil {
				p.Close()
				t.Fatalf("NewPipeline succeeded, want an error wrapping %v", tc.wantErr)
			}
			if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.wantText) {
				t.Fatalf("NewPipeline: %v, want an error wrapping %v that says %q", err, tc.wantErr, tc.wantText)
			}
		})
	}
}

// A pipeline whose destination joined at R1 is raised to R3: every row is
// delivered once, and the stream lets go of what the destination
// acknowledged (interest retention). On nats-server 2.9 a consumer made
// before its stream grew kept acknowledgements from reaching the stream
// until it got a new leader; the in-process server is checked beside the
// machine's nats-server binary.
func TestReplicasRaisedWithMembers(t *testing.T) {
	for _, tc := range []struct {
		name string
		urls func(t *testing.T) string
	}{
		{"in-process", func(t *testing.T) string { return queuetest.RunCluster(t, 3).URLs() }},
		{"nats-server binary", func(t *testing.T) string { return queuetest.RunBinaryCluster(t, 3).URLs }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := tc.urls(t)
			name := queuetest.UniqueName("raise")
			rec := &recorder{}
			dest := func() *Destination { return NewDestination("d", rec.fn, BatchSize(100)) }
			p1, err := NewPipeline(name, dest(), WithNATSURL(url), WithDataDir(t.TempDir()))
			if err != nil {
				t.Fatal(err)
			}
			p1.Close()
			p, err := NewPipeline(name, dest(), WithNATSURL(url), WithReplicas(3), WithDataDir(t.TempDir()))
			if err != nil {
				t.Fatalf("raise to 3 replicas: %v", err)
			}
			defer p.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if _, err := p.Run(ctx, faultItems(1000), TableName("t")); err != nil {
				t.Fatal(err)
			}
			if got := len(rec.byTable()["t"]); got != 1000 {
				t.Fatalf("%d rows delivered, want 1000", got)
			}
			var msgs uint64
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
				s, err := p.q.JetStream().Stream(ctx, p.q.StreamName())
				if err != nil {
					t.Fatal(err)
				}
				if msgs = s.CachedInfo().State.Msgs; msgs == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the stream still holds %d acknowledged batches", msgs)
				}
			}
		})
	}
}
