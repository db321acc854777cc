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

// get decodes the JSON value of key into v and returns its revision; 0 and
// v untouched when the key does not exist.
func (s *Store) get(ctx context.Context, key string, v any) (uint64, error) {
	e, err := s.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("state: get %s: %w", key, err)
	}
	if err := json.Unmarshal(e.Value(), v); err != nil {
		return 0, fmt.Errorf("state: decode %s: %w", key, err)
	}
	return e.Revision(), nil
}

// put stores v as JSON under key.
func (s *Store) put(ctx context.Context, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("state: encode %s: %w", key, err)
	}
	if _, err := s.kv.Put(ctx, key, b); err != nil {
		return fmt.Errorf("state: put %s: %w", key, err)
	}
	return nil
}

// Schema returns the stored schema (empty if none yet).
func (s *Store) Schema(ctx context.Context) (Schema, error) {
	var sc Schema
	_, err := s.get(ctx, schemaKey, &sc)
	return sc, err
}

// SaveSchema stores the schema.
func (s *Store) SaveSchema(ctx context.Context, sc Schema) error {
	return s.put(ctx, schemaKey, sc)
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
	return s.put(ctx, "loads."+l.LoadID, l)
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
		var l Load
		if rev, err := s.get(ctx, k, &l); err == nil && rev > 0 {
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
	_, err := s.get(ctx, progressKey(dest), &p)
	return p, err
}

// AddProgress adds to a destination's totals (compare-and-set, so several
// processes may add at once).
func (s *Store) AddProgress(ctx context.Context, dest string, items, batches, dead int64) error {
	key := progressKey(dest)
	for range 20 {
		var p Progress
		rev, err := s.get(ctx, key, &p)
		if err != nil {
			return err
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
	var l Load
	if _, err := s.get(ctx, resumeKey(key), &l); err != nil {
		return "", err
	}
	if l.Status != "running" {
		return "", nil
	}
	return l.LoadID, nil
}

// SaveResume records the state of the load run with its resume key.
func (s *Store) SaveResume(ctx context.Context, l Load) error {
	return s.put(ctx, resumeKey(l.ResumeKey), Load{LoadID: l.LoadID, Status: l.Status, Started: l.Started, ResumeKey: l.ResumeKey})
}
