package bridge

import (
	"context"
	"errors"
	"strings"
	"testing"

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
