package queue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// MaxReplicas is the most copies JetStream keeps of a stream.
const MaxReplicas = 5

// ErrReplicas is wrapped by Open's error when the server cannot keep the
// pipeline's streams with the replicas asked for: a server that is not in a
// cluster keeps one copy, a cluster needs at least as many JetStream servers
// as replicas, and a server may refuse to change the replicas of an existing
// stream.
var ErrReplicas = errors.New("replicas")

// JetStream API error codes about replicas and placement.
const (
	codeNoPeers             = 10005 // no suitable peers for placement
	codeInsufficient        = 10023 // insufficient resources
	codeReplicasNotUpdate   = 10061 // replicas configuration can not be updated
	codeReplicasNotClusterd = 10074 // replicas > 1 not supported in non-clustered mode
)

// Replicas returns how many copies the pipeline's streams and buckets keep.
func (q *Queue) Replicas() int { return q.replicas }

// clustered reports whether the connected server is part of a cluster.
func (q *Queue) clustered() bool { return q.nc.ConnectedClusterName() != "" }

// resolveReplicas decides the pipeline's replicas: Config.Replicas when set;
// otherwise those of the existing batches stream (so a process that does not
// say keeps what the pipeline has, instead of scaling it down), or 1.
func (q *Queue) resolveReplicas(ctx context.Context) error {
	if n := q.cfg.Replicas; n > 0 {
		if n > 1 && !q.clustered() {
			return fmt.Errorf("%w %d: the NATS server is not part of a cluster and keeps one copy of a stream: "+
				"use 1, or a cluster of %d or more JetStream servers", ErrReplicas, n, n)
		}
		q.replicas = n
		return nil
	}
	q.replicas = 1
	if !q.clustered() {
		return nil
	}
	actx, cancel := apiCtx(ctx)
	defer cancel()
	s, err := q.js.Stream(actx, q.StreamName())
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("stream %s: %w", q.StreamName(), err)
	}
	if n := s.CachedInfo().Config.Replicas; n > 0 {
		q.replicas = n
	}
	return nil
}

// EnsureReplicas gives the existing stream name (a bucket's is KV_<bucket>
// or OBJ_<bucket>) the pipeline's replicas, leaving the rest of its
// configuration as it is, and waits until the change has taken (see
// settle). A stream that does not exist is left alone.
func (q *Queue) EnsureReplicas(ctx context.Context, name string) error {
	actx, cancel := apiCtx(ctx)
	defer cancel()
	s, err := q.js.Stream(actx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stream %s: %w", name, err)
	}
	cfg := s.CachedInfo().Config
	had := max(cfg.Replicas, 1)
	if had == q.replicas {
		return nil
	}
	cfg.Replicas = q.replicas
	if _, err := q.js.UpdateStream(actx, cfg); err != nil {
		return q.ExplainReplicas(name, had, err)
	}
	_, err = q.settle(ctx, name, had)
	return err
}

// ensureStream creates the stream sc, or updates the existing one to sc,
// and returns it with the replicas it had (0 when it is new, or made by
// another process at the same time). When that changes its replicas it
// waits until the change has taken (see settle).
func (q *Queue) ensureStream(ctx context.Context, sc jetstream.StreamConfig) (jetstream.Stream, int, error) {
	actx, cancel := apiCtx(ctx)
	defer cancel()
	var old *jetstream.StreamConfig
	cur, err := q.js.Stream(actx, sc.Name)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil && q.clustered():
		// No answer: on nats-server 2.9, a stream another process is
		// making has no leader to answer yet.
		s, err := q.awaitStream(ctx, sc)
		if err != nil {
			return nil, 0, fmt.Errorf("stream %s: %w", sc.Name, err)
		}
		return s, 0, nil
	case err != nil:
		return nil, 0, fmt.Errorf("stream %s: %w", sc.Name, err)
	default:
		old = &cur.CachedInfo().Config
	}
	s, err := q.js.CreateOrUpdateStream(actx, sc)
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil && q.clustered() {
		// No answer. nats-server 2.9 may make or update the stream and
		// answer no one when processes open the same replicated stream at
		// once (workers starting together): wait for it, then update it.
		s, err = q.awaitStream(ctx, sc)
	}
	if err != nil {
		if old == nil {
			return nil, 0, q.ExplainReplicas(sc.Name, 0, err)
		}
		if old.Retention != sc.Retention {
			return nil, 0, fmt.Errorf("stream %s: its retention (%s) cannot be changed to %s on this server: "+
				"keep the pipeline's retention setting, or drop the pipeline (bridge drop) once it is delivered: %w",
				sc.Name, old.Retention, sc.Retention, err)
		}
		return nil, 0, q.ExplainReplicas(sc.Name, max(old.Replicas, 1), err)
	}
	if old == nil {
		return s, 0, nil
	}
	had := max(old.Replicas, 1)
	if had != max(sc.Replicas, 1) {
		s, err = q.settle(ctx, sc.Name, had)
	}
	return s, had, err
}

// refreshConsumers has every consumer of the batches stream elect a new
// leader, and waits until each has one, after the stream's replicas
// changed. On nats-server 2.9 a consumer that existed before its stream grew
// goes on taking acknowledgements that never reach the stream: under
// interest retention the stream keeps every batch acknowledged after the
// change, and the consumer delivers them all again when its leader changes.
// A new leader right after the change avoids both.
func (q *Queue) refreshConsumers(ctx context.Context) error {
	actx, cancel := apiCtx(ctx)
	defer cancel()
	var names []string
	lister := q.stream.ConsumerNames(actx)
	for n := range lister.Name() {
		names = append(names, n)
	}
	if err := lister.Err(); err != nil {
		return fmt.Errorf("stream %s: consumers: %w", q.StreamName(), err)
	}
	deadline := time.Now().Add(settleTimeout)
	for _, n := range names {
		// Right after the change the consumer may have no leader to
		// answer yet: wait for one, ask it to step down, wait for the next.
		if err := q.consumerLeader(ctx, n, deadline); err != nil {
			return err
		}
		for {
			subj := "$JS.API.CONSUMER.LEADER.STEPDOWN." + q.StreamName() + "." + n
			rctx, cancel := context.WithTimeout(ctx, time.Second)
			_, err := q.nc.RequestWithContext(rctx, subj, nil)
			cancel()
			if err == nil {
				break
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				return fmt.Errorf("consumer %s on %s: %w: no new leader after the replicas changed: %w", n, q.StreamName(), ErrReplicas, err)
			}
		}
		if err := q.consumerLeader(ctx, n, deadline); err != nil {
			return err
		}
	}
	return nil
}

// consumerLeader waits until consumer n has a leader, until deadline.
func (q *Queue) consumerLeader(ctx context.Context, n string, deadline time.Time) error {
	for {
		ictx, cancel := apiCtx(ctx)
		c, err := q.stream.Consumer(ictx, n)
		cancel()
		if err == nil && c.CachedInfo().Cluster != nil && c.CachedInfo().Cluster.Leader != "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("consumer %s on %s: %w: no leader within %v after the replicas changed (%v)",
				n, q.StreamName(), ErrReplicas, settleTimeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// awaitStream waits until stream sc.Name, whose lookup, create or update
// went unanswered, exists with a leader, then updates it to sc (so a stream
// another process made differently gets this process's config, as
// CreateOrUpdateStream does), trying again until settleTimeout.
func (q *Queue) awaitStream(ctx context.Context, sc jetstream.StreamConfig) (jetstream.Stream, error) {
	deadline := time.Now().Add(settleTimeout)
	for {
		actx, cancel := apiCtx(ctx)
		s, err := q.js.Stream(actx, sc.Name)
		if err == nil && s.CachedInfo().Cluster != nil && s.CachedInfo().Cluster.Leader != "" {
			s, err = q.js.UpdateStream(actx, sc)
			cancel()
			if err == nil {
				return s, nil
			}
		} else {
			cancel()
		}
		if err == nil {
			err = errors.New("no leader yet")
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("no answer from the server, and no leader within %v: %w", settleTimeout, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// AwaitLeader waits, up to 30 s, until stream name (a bucket's is
// KV_<bucket>) exists with a leader. On a cluster a stream just made, by this
// process or by another at the same time, may not answer requests before it
// has one (nats-server 2.9 answers none). Off a cluster it returns at once.
func (q *Queue) AwaitLeader(ctx context.Context, name string) error {
	if !q.clustered() {
		return nil
	}
	deadline := time.Now().Add(settleTimeout)
	for {
		actx, cancel := apiCtx(ctx)
		s, err := q.js.Stream(actx, name)
		cancel()
		if err == nil && s.CachedInfo().Cluster != nil && s.CachedInfo().Cluster.Leader != "" {
			return nil
		}
		if err == nil {
			err = errors.New("no leader yet")
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("stream %s: no leader within %v: %w", name, settleTimeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// settleTimeout bounds the wait for a stream whose replicas changed.
var settleTimeout = 30 * time.Second

// settle waits until stream name, whose replicas just changed from had to
// the pipeline's, has a leader and all its peers. Until then a server may
// not answer requests on the stream (nats-server 2.9 elects a new leader
// after the change and drops requests meanwhile), so a consumer or an update
// made at once would time out. The new copies catch up in the background.
func (q *Queue) settle(ctx context.Context, name string, had int) (jetstream.Stream, error) {
	if !q.clustered() {
		return q.js.Stream(ctx, name)
	}
	deadline := time.Now().Add(settleTimeout)
	var last string
	for {
		actx, cancel := apiCtx(ctx)
		s, err := q.js.Stream(actx, name)
		cancel()
		if err == nil {
			c := s.CachedInfo().Cluster
			if c != nil && c.Leader != "" && len(c.Replicas) >= q.replicas-1 {
				return s, nil
			}
			last = "no leader with all its copies yet"
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("stream %s: %w: changed from %d to %d replicas, but the stream did not settle within %v (%s): "+
				"check the cluster's servers", name, ErrReplicas, had, q.replicas, settleTimeout, last)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("stream %s: waiting for its %d replicas: %w", name, q.replicas, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// ExplainReplicas explains err, an error of creating or updating stream name
// (which had `had` replicas, 0 when new), when it is about replicas, with an
// error wrapping ErrReplicas; other errors come back wrapped with the
// stream's name.
func (q *Queue) ExplainReplicas(name string, had int, err error) error {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return fmt.Errorf("stream %s: %w", name, err)
	}
	n := q.replicas
	switch apiErr.ErrorCode {
	case codeReplicasNotClusterd:
		return fmt.Errorf("stream %s: %w %d: the NATS server is not part of a cluster and keeps one copy of a stream: "+
			"use 1, or a cluster of %d or more JetStream servers: %w", name, ErrReplicas, n, n, err)
	case codeReplicasNotUpdate:
		return fmt.Errorf("stream %s: %w: this NATS server cannot change the stream's replicas from %d to %d: "+
			"leave the replicas as they are (do not set them), change them with the nats tool "+
			"(nats stream edit %s --replicas %d) on a server that can, or drop the pipeline once it is delivered "+
			"and create it again: %w", name, ErrReplicas, had, n, name, n, err)
	case codeNoPeers, codeInsufficient:
		if n > 1 {
			return fmt.Errorf("stream %s: %w %d: the cluster has fewer than %d JetStream servers up with room for a copy: %w",
				name, ErrReplicas, n, n, err)
		}
	}
	return fmt.Errorf("stream %s: %w", name, err)
}
