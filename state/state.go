// Package state keeps a pipeline's state in a JetStream key-value bucket, so a
// restart, or a second machine on the same NATS, carries on: table schemas
// with their versions, the load history and per-destination progress.
package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fanoutbridge/bridge/queue"
	"github.com/fanoutbridge/bridge/schema"
)

// Store is a pipeline's state bucket.
type Store struct {
	kv jetstream.KeyValue
}

// Open opens (creating if needed) the state bucket of q's pipeline.
func Open(ctx context.Context, q *queue.Queue) (*Store, error) {
	js := q.JetStream()
	kv, err := js.KeyValue(ctx, q.StateBucket())
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:      q.StateBucket(),
			Description: "bridge pipeline " + q.Pipeline() + ": schemas, loads, progress",
			History:     1,
			Storage:     jetstream.FileStorage,
		})
	}
	if err != nil {
		return nil, fmt.Errorf("state bucket %s: %w", q.StateBucket(), err)
	}
	return &Store{kv: kv}, nil
}

// Schema is the stored schema of a pipeline: every table with a version that
// grows with every change.
type Schema struct {
	Version int             `json:"version"`
	Tables  []*schema.Table `json:"tables"`
}

const schemaKey = "schema"

// Schema returns the stored schema (empty if none yet).
func (s *Store) Schema(ctx context.Context) (Schema, error) {
	var sc Schema
	e, err := s.kv.Get(ctx, schemaKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return sc, nil
	}
	if err != nil {
		return sc, fmt.Errorf("state: get schema: %w", err)
	}
	if err := json.Unmarshal(e.Value(), &sc); err != nil {
		return sc, fmt.Errorf("state: decode schema: %w", err)
	}
	return sc, nil
}

// SaveSchema stores the schema.
func (s *Store) SaveSchema(ctx context.Context, sc Schema) error {
	b, err := json.Marshal(sc)
	if err != nil {
		return fmt.Errorf("state: encode schema: %w", err)
	}
	if _, err := s.kv.Put(ctx, schemaKey, b); err != nil {
		return fmt.Errorf("state: put schema: %w", err)
	}
	return nil
}

// TableCount is what a load did for one table.
type TableCount struct {
	Items       int `json:"items"`
	Batches     int `json:"batches"`
	DeadLetters int `json:"dead_letters,omitempty"`
}

// Load is one entry of the load history.
type Load struct {
	LoadID      string                `json:"load_id"`
	Destination string                `json:"destination"`
	Started     time.Time             `json:"started"`
	Finished    time.Time             `json:"finished,omitzero"`
	Status      string                `json:"status"` // "running", "completed", "failed"
	Error       string                `json:"error,omitempty"`
	ResumeKey   string                `json:"resume_key,omitempty"`
	Produced    map[string]TableCount `json:"produced,omitempty"`
	Delivered   map[string]TableCount `json:"delivered,omitempty"`
}

// SaveLoad stores a load history entry.
func (s *Store) SaveLoad(ctx context.Context, l Load) error {
	b, err := json.Marshal(l)
	if err != nil {
		return fmt.Errorf("state: encode load: %w", err)
	}
	if _, err := s.kv.Put(ctx, "loads."+l.LoadID, b); err != nil {
		return fmt.Errorf("state: put load %s: %w", l.LoadID, err)
	}
	return nil
}

// Loads returns the load history, oldest first.
func (s *Store) Loads(ctx context.Context) ([]Load, error) {
	lister, err := s.kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("state: list: %w", err)
	}
	var keys []string
	for k := range lister.Keys() {
		if strings.HasPrefix(k, "loads.") {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var out []Load
	for _, k := range keys {
		e, err := s.kv.Get(ctx, k)
		if err != nil {
			continue
		}
		var l Load
		if json.Unmarshal(e.Value(), &l) == nil {
			out = append(out, l)
		}
	}
	return out, nil
}

// Progress is a destination's running totals across loads.
type Progress struct {
	Items       int64     `json:"items"`
	Batches     int64     `json:"batches"`
	DeadLetters int64     `json:"dead_letters"`
	Updated     time.Time `json:"updated"`
}

func progressKey(dest string) string { return "progress." + queue.Token(dest) }

// Progress returns a destination's totals.
func (s *Store) Progress(ctx context.Context, dest string) (Progress, error) {
	var p Progress
	e, err := s.kv.Get(ctx, progressKey(dest))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return p, nil
	}
	if err != nil {
		return p, fmt.Errorf("state: get progress: %w", err)
	}
	if err := json.Unmarshal(e.Value(), &p); err != nil {
		return p, fmt.Errorf("state: decode progress: %w", err)
	}
	return p, nil
}

// AddProgress adds to a destination's totals (compare-and-set, so several
// processes may add at once).
func (s *Store) AddProgress(ctx context.Context, dest string, items, batches, dead int64) error {
	key := progressKey(dest)
	for range 20 {
		var p Progress
		var rev uint64
		e, err := s.kv.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return fmt.Errorf("state: get progress: %w", err)
		default:
			rev = e.Revision()
			if err := json.Unmarshal(e.Value(), &p); err != nil {
				return fmt.Errorf("state: decode progress: %w", err)
			}
		}
		p.Items += items
		p.Batches += batches
		p.DeadLetters += dead
		p.Updated = time.Now().UTC()
		b, _ := json.Marshal(p)
		if rev == 0 {
			_, err = s.kv.Create(ctx, key, b)
		} else {
			_, err = s.kv.Update(ctx, key, b, rev)
		}
		if err == nil {
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !strings.Contains(err.Error(), "wrong last sequence") {
			return fmt.Errorf("state: put progress: %w", err)
		}
	}
	return fmt.Errorf("state: put progress %s: too much contention", dest)
}

func resumeKey(key string) string { return "resume." + queue.Token(key) }

// Resumable returns the load id of the last load run with key if that load
// never finished (its process died), and "" otherwise.
func (s *Store) Resumable(ctx context.Context, key string) (string, error) {
	e, err := s.kv.Get(ctx, resumeKey(key))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("state: get resume key: %w", err)
	}
	var l Load
	if err := json.Unmarshal(e.Value(), &l); err != nil {
		return "", fmt.Errorf("state: decode resume key: %w", err)
	}
	if l.Status != "running" {
		return "", nil
	}
	return l.LoadID, nil
}

// SaveResume records the state of the load run with its resume key.
func (s *Store) SaveResume(ctx context.Context, l Load) error {
	b, err := json.Marshal(Load{LoadID: l.LoadID, Status: l.Status, Started: l.Started, ResumeKey: l.ResumeKey})
	if err != nil {
		return fmt.Errorf("state: encode resume key: %w", err)
	}
	if _, err := s.kv.Put(ctx, resumeKey(l.ResumeKey), b); err != nil {
		return fmt.Errorf("state: put resume key: %w", err)
	}
	return nil
}
