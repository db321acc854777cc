package queue

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Lookup opens the streams of a pipeline that exists, creating nothing; when
// the pipeline's stream does not exist the error wraps ErrNotFound. It is
// for the commands that only look (status, dead letters, drop).
func Lookup(ctx context.Context, nc *nats.Conn, cfg Config) (*Queue, error) {
	q, err := newQueue(nc, cfg)
	if err != nil {
		return nil, err
	}
	actx, cancel := apiCtx(ctx)
	defer cancel()
	q.stream, err = q.js.Stream(actx, q.StreamName())
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("%w: no stream %s", ErrNotFound, q.StreamName())
	}
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", q.StreamName(), err)
	}
	// What it makes later (an Object Store for a replayed batch) gets the
	// pipeline's replicas.
	q.replicas = max(q.stream.CachedInfo().Config.Replicas, 1)
	return q, nil
}

// Pipelines returns the names of the pipelines on the server, sorted: those
// of the streams BRIDGE_<name> other than the dead-letter, ledger, object
// and key-value ones.
func Pipelines(ctx context.Context, nc *nats.Conn) ([]string, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	actx, cancel := apiCtx(ctx)
	defer cancel()
	names := js.StreamNames(actx)
	var out []string
	for n := range names.Name() {
		if name, ok := pipelineOfStream(n); ok {
			out = append(out, name)
		}
	}
	if err := names.Err(); err != nil {
		return nil, fmt.Errorf("list streams: %w", err)
	}
	slices.Sort(out)
	return out, nil
}

// StorePipelines returns the pipelines an embedded store in dir holds, read
// from the store's directories on disk (nothing is started or changed); nil
// when there is no store or its layout is not the one known.
func StorePipelines(dir string) []string {
	matches, _ := filepath.Glob(filepath.Join(dir, StoreDirName, "jetstream", "*", "streams", "BRIDGE_*"))
	var out []string
	for _, m := range matches {
		if name, ok := pipelineOfStream(filepath.Base(m)); ok {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// pipelineOfStream returns the pipeline whose main stream is stream.
func pipelineOfStream(stream string) (string, bool) {
	name, ok := strings.CutPrefix(stream, "BRIDGE_")
	if !ok || name == "" || strings.HasSuffix(name, "_DLQ") || strings.HasSuffix(name, "_LEDGER") ||
		strings.HasSuffix(name, "_OBJ") || strings.HasSuffix(name, "_STATE") {
		return "", false // OBJ_ and KV_ streams do not start with BRIDGE_
	}
	return name, true
}
