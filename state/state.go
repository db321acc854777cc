// Package state keeps a pipeline's state in a JetStream key-value bucket, so a
// restart, or a second machine on the same NATS, carries on: table schemas
// with their versions, the load history and per-destination progress.
package state

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
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

// Open opens (creating if needed) the state bucket of q's pipeline, with the
// pipeline's replicas (q.Replicas); an existing bucket with other replicas
// is changed to them.
func Open(ctx context.Context, q *queue.Queue) (*Store, error) {
	kv, err := open(ctx, q)
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		// No answer: on a cluster, a bucket another process is making at
		// the same time may have no leader yet. Wait for one, then again.
		if err = q.AwaitLeader(ctx, bucketStream(q)); err == nil {
			kv, err = open(ctx, q)
		}
	}
	if err == nil {
		// Made just now (here or by another process): it answers once it
		// has a leader.
		err = q.AwaitLeader(ctx, bucketStream(q))
	}
	if err != nil {
		return nil, fmt.Errorf("state bucket %s: %w", q.StateBucket(), err)
	}
	return &Store{kv: kv}, nil
}

// open opens or creates the bucket, each request bounded by apiTimeout.
func open(ctx context.Context, q *queue.Queue) (jetstream.KeyValue, error) {
	js := q.JetStream()
	actx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	kv, err := js.KeyValue(actx, q.StateBucket())
	switch {
	case errors.Is(err, jetstream.ErrBucketNotFound):
		kv, err = js.CreateKeyValue(actx, jetstream.KeyValueConfig{
			Bucket:      q.StateBucket(),
			Description: "bridge pipeline " + q.Pipeline() + ": schemas, loads, progress",
			History:     1,
			Storage:     jetstream.FileStorage,
			Replicas:    q.Replicas(),
		})
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			err = q.ExplainReplicas(bucketStream(q), 0, err)
		}
	case err == nil:
		err = q.EnsureReplicas(ctx, bucketStream(q))
	}
	return kv, err
}

// apiTimeout bounds one request of Open.
const apiTimeout = 5 * time.Second

// bucketStream is the stream that holds q's state bucket.
func bucketStream(q *queue.Queue) string { return "KV_" + q.StateBucket() }

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

// ErrSchemaConflict is returned by SaveSchemaAt when the stored schema is no
// longer at the revision the caller read: another process saved one since.
var ErrSchemaConflict = errors.New("state: the stored schema changed since it was read")

// schemaAttempts bounds SaveSchema's read, merge and save rounds.
const schemaAttempts = 20

// Schema returns the stored schema (empty if none yet).
func (s *Store) Schema(ctx context.Context) (Schema, error) {
	sc, _, err := s.SchemaRevision(ctx)
	return sc, err
}

// A schema is stored under schemaKey. One that encodes to more than
// schemaPartSize bytes (a table of some thousand columns) does not fit in one
// message of the server (1 MiB by default): it is stored in parts under
// schema.part.<sum>.<i>, written before the head under schemaKey that names
// them, so a reader never sees a head whose parts are not there yet. The
// parts of the schema a save replaces are deleted after it.
const (
	schemaPartSize   = 256 << 10
	schemaPartPrefix = schemaKey + ".part."
)

// schemaHead is the value under schemaKey: the schema itself, or the
// parts it is stored in.
type schemaHead struct {
	Version int             `json:"version"`
	Tables  []*schema.Table `json:"tables,omitempty"`
	Parts   *schemaParts    `json:"parts,omitempty"`
}

type schemaParts struct {
	Sum   string `json:"sum"` // of the schema's JSON: names the parts
	Count int    `json:"count"`
	Size  int    `json:"size"`
}

func (sp *schemaParts) key(i int) string { return schemaPartPrefix + sp.Sum + "." + strconv.Itoa(i) }

// SchemaRevision returns the stored schema (empty if none yet) and its
// revision (0 if none), to save a change with SaveSchemaAt.
func (s *Store) SchemaRevision(ctx context.Context) (Schema, uint64, error) {
	sc, rev, _, err := s.schemaHead(ctx)
	return sc, rev, err
}

// schemaHead returns the stored schema, its revision and the parts it is
// stored in (nil when it is stored whole).
func (s *Store) schemaHead(ctx context.Context) (Schema, uint64, *schemaParts, error) {
	for attempt := 0; ; attempt++ {
		var head schemaHead
		rev, err := s.get(ctx, schemaKey, &head)
		if err != nil || head.Parts == nil {
			return Schema{Version: head.Version, Tables: head.Tables}, rev, nil, err
		}
		sc, err := s.schemaParts(ctx, head.Parts)
		if errors.Is(err, jetstream.ErrKeyNotFound) && attempt < 3 {
			continue // a save replaced the schema while we read its parts
		}
		if err != nil {
			return Schema{}, 0, nil, err
		}
		return sc, rev, head.Parts, nil
	}
}

func (s *Store) schemaParts(ctx context.Context, sp *schemaParts) (Schema, error) {
	b, err := s.getParts(ctx, sp.key, sp.Count, sp.Size)
	if err != nil {
		return Schema{}, err
	}
	var sc Schema
	if err := json.Unmarshal(b, &sc); err != nil {
		return Schema{}, fmt.Errorf("state: decode the schema (%d parts): %w", sp.Count, err)
	}
	return sc, nil
}

// SaveSchemaAt stores sc if the stored schema is still at revision rev (0:
// none is stored), and returns the new revision. If another process saved
// one since, it stores nothing and returns an error wrapping
// ErrSchemaConflict: read again, MergeSchema, and save at the new revision.
func (s *Store) SaveSchemaAt(ctx context.Context, sc Schema, rev uint64) (uint64, error) {
	var old *schemaParts
	if rev != 0 {
		var head schemaHead
		if _, err := s.get(ctx, schemaKey, &head); err != nil {
			return 0, err
		}
		old = head.Parts
	}
	b, err := json.Marshal(sc)
	if err != nil {
		return 0, fmt.Errorf("state: encode %s: %w", schemaKey, err)
	}
	var parts *schemaParts
	if len(b) > schemaPartSize {
		sum := sha256.Sum256(b)
		parts = &schemaParts{Sum: hex.EncodeToString(sum[:12]), Count: (len(b) + schemaPartSize - 1) / schemaPartSize, Size: len(b)}
		if err := s.putParts(ctx, parts.key, b); err != nil {
			return 0, err
		}
		if b, err = json.Marshal(schemaHead{Version: sc.Version, Parts: parts}); err != nil {
			return 0, fmt.Errorf("state: encode %s: %w", schemaKey, err)
		}
	}
	var next uint64
	if rev == 0 {
		next, err = s.kv.Create(ctx, schemaKey, b)
	} else {
		next, err = s.kv.Update(ctx, schemaKey, b, rev)
	}
	if err != nil {
		// The parts stay: a process that saved the same schema meanwhile
		// may have written them for its head.
		if isConflict(err) {
			return 0, fmt.Errorf("%w (revision %d): %w", ErrSchemaConflict, rev, err)
		}
		return 0, fmt.Errorf("state: put %s: %w", schemaKey, err)
	}
	if old != nil || parts != nil {
		s.sweepParts(ctx, parts)
	}
	return next, nil
}

// putParts stores b in parts of schemaPartSize bytes under key(0), key(1),
// ...
func (s *Store) putParts(ctx context.Context, key func(int) string, b []byte) error {
	count := (len(b) + schemaPartSize - 1) / schemaPartSize
	for i := range count {
		if _, err := s.kv.Put(ctx, key(i), b[i*schemaPartSize:min(len(b), (i+1)*schemaPartSize)]); err != nil {
			return fmt.Errorf("state: put %s (part %d of %d of %d bytes): %w", key(i), i+1, count, len(b), err)
		}
	}
	return nil
}

// getParts returns the value stored by putParts in count parts.
func (s *Store) getParts(ctx context.Context, key func(int) string, count, size int) ([]byte, error) {
	b := make([]byte, 0, size)
	for i := range count {
		e, err := s.kv.Get(ctx, key(i))
		if err != nil {
			return nil, fmt.Errorf("state: get %s: %w", key(i), err)
		}
		b = append(b, e.Value()...)
	}
	return b, nil
}

// sweepParts removes the schema parts, older than schemaPartGrace, that the
// head (stored in keep, nil when it is stored whole) does not name: those of
// the schemas it replaced, and those of saves that lost a race. A failure leaves garbage, not damage,
// so it is not reported.
func (s *Store) sweepParts(ctx context.Context, keep *schemaParts) {
	keys, err := s.kv.ListKeysFiltered(ctx, schemaPartPrefix+">")
	if err != nil {
		return
	}
	defer func() { _ = keys.Stop() }()
	var stale []string
	for k := range keys.Keys() {
		if keep == nil || !strings.HasPrefix(k, schemaPartPrefix+keep.Sum+".") {
			stale = append(stale, k)
		}
	}
	for _, k := range stale {
		// A part written lately may belong to a save under way, whose head
		// is not stored yet: leave it to a later sweep.
		if e, err := s.kv.Get(ctx, k); err == nil && time.Since(e.Created()) >= schemaPartGrace {
			_ = s.kv.Purge(ctx, k)
		}
	}
}

// schemaPartGrace is the age below which sweepParts keeps a part.
var schemaPartGrace = time.Minute

// SaveSchema merges sc into the stored schema (see MergeSchema) and stores
// the result, compare-and-set: when another process saves in between, it
// reads and merges again, a bounded number of times. So two producers that
// evolve the schema at once lose neither's tables or columns. It stores
// nothing when the stored schema already has all of sc.
func (s *Store) SaveSchema(ctx context.Context, sc Schema) error {
	for attempt := range schemaAttempts {
		stored, rev, err := s.SchemaRevision(ctx)
		if err != nil {
			return err
		}
		merged, changed := mergeSchema(stored, sc)
		if !changed && rev != 0 {
			return nil
		}
		_, err = s.SaveSchemaAt(ctx, merged, rev)
		if !errors.Is(err, ErrSchemaConflict) {
			return err
		}
		// Someone else saved: give them a moment, then merge with theirs.
		wait := time.Millisecond + rand.N(time.Duration(min(1<<attempt, 50))*time.Millisecond)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return fmt.Errorf("state: save schema: %w", context.Cause(ctx))
		}
	}
	return fmt.Errorf("state: save schema: %w, %d times", ErrSchemaConflict, schemaAttempts)
}

// MergeSchema returns the union of the stored schema and ours: the stored
// tables in their order, then our new ones in ours; per table, the stored
// columns in their order, then our new ones (by name) in ours. A table or
// column both have keeps the stored one: a column's type never changes once
// stored. The names the normalizer recorded (Table.Keys) are merged the same
// way: a name, or a key path, both have keeps the stored record. The version
// is the larger one, and above the stored one if the merge added anything.
// Neither input is modified.
func MergeSchema(stored, ours Schema) Schema {
	merged, _ := mergeSchema(stored, ours)
	return merged
}

// mergeSchema is MergeSchema, and reports whether the result has anything
// the stored schema does not.
func mergeSchema(stored, ours Schema) (Schema, bool) {
	out := Schema{Version: stored.Version, Tables: make([]*schema.Table, 0, max(len(stored.Tables), len(ours.Tables)))}
	byName := make(map[string]*schema.Table, len(stored.Tables))
	for _, t := range stored.Tables {
		if t == nil || byName[t.Name] != nil {
			continue
		}
		c := t.Clone()
		byName[t.Name] = c
		out.Tables = append(out.Tables, c)
	}
	changed := false
	for _, t := range ours.Tables {
		if t == nil {
			continue
		}
		have := byName[t.Name]
		if have == nil {
			c := t.Clone()
			byName[t.Name] = c
			out.Tables = append(out.Tables, c)
			changed = true
			continue
		}
		for _, col := range t.Columns {
			if _, ok := have.Column(col.Name); !ok {
				if err := have.AddColumn(col); err == nil {
					changed = true
				}
			}
		}
		if mergeKeys(have, t.Keys) {
			changed = true
		}
	}
	if changed {
		out.Version = max(stored.Version+1, ours.Version)
	}
	return out, changed
}

// mergeKeys adds to t.Keys the records of keys that are new in both ways:
// neither the name nor the key path is recorded yet.
func mergeKeys(t *schema.Table, keys map[string][]string) bool {
	if len(keys) == 0 {
		return false
	}
	paths := make(map[string]bool, len(t.Keys))
	for _, p := range t.Keys {
		paths[pathID(p)] = true
	}
	// In name order, so that two records of one new path resolve the same
	// way every time.
	names := slices.Sorted(maps.Keys(keys))
	changed := false
	for _, name := range names {
		p := keys[name]
		if _, ok := t.Keys[name]; ok || paths[pathID(p)] {
			continue
		}
		if t.Keys == nil {
			t.Keys = make(map[string][]string, len(keys))
		}
		t.Keys[name] = slices.Clone(p)
		paths[pathID(p)] = true
		changed = true
	}
	return changed
}

// pathID encodes a key path as one string, unambiguously.
func pathID(p []string) string {
	var sb strings.Builder
	for _, k := range p {
		sb.WriteString(strconv.Itoa(len(k)))
		sb.WriteByte(':')
		sb.WriteString(k)
	}
	return sb.String()
}

// isConflict reports whether err is JetStream's answer to a compare-and-set
// whose revision is stale: a key that exists on Create, a revision
// mismatch on Update (codes 10071, or 10164 on replicated streams).
func isConflict(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// TableCount is what a load did for one table.
type TableCount struct {
	Items       int `json:"items"`
	Batches     int `json:"batches"`
	DeadLetters int `json:"dead_letters,omitempty"`
}

// Load is one entry of the load history.
type Load struct {
	LoadID      string    `json:"load_id"`
	Destination string    `json:"destination"`
	Started     time.Time `json:"started"`
	Finished    time.Time `json:"finished,omitzero"`
	Status      string    `json:"status"` // "running", "completed", "failed"
	Error       string    `json:"error,omitempty"`
	ResumeKey   string    `json:"resume_key,omitempty"`
	// Queued says the load's whole input is stored in the stream: a run
	// with its resume key delivers what is pending and publishes nothing.
	Queued    bool                  `json:"queued,omitempty"`
	Produced  map[string]TableCount `json:"produced,omitempty"`
	Delivered map[string]TableCount `json:"delivered,omitempty"`
}

// SaveLoad stores a load history entry.
func (s *Store) SaveLoad(ctx context.Context, l Load) error {
	return s.put(ctx, "loads."+l.LoadID, l)
}

// loadKeys returns the keys of the load history, oldest first.
func (s *Store) loadKeys(ctx context.Context) ([]string, error) {
	lister, err := s.kv.ListKeysFiltered(ctx, "loads.>")
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state: list: %w", err)
	}
	defer func() { _ = lister.Stop() }()
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	slices.Sort(keys) // load ids grow with time
	return keys, nil
}

// PruneLoads deletes the oldest entries of the load history beyond the
// newest keep, except loads still running. It returns how many it deleted.
func (s *Store) PruneLoads(ctx context.Context, keep int) (int, error) {
	keys, err := s.loadKeys(ctx)
	if err != nil || len(keys) <= keep {
		return 0, err
	}
	n := 0
	for _, k := range keys[:len(keys)-keep] {
		var l Load
		if rev, err := s.get(ctx, k, &l); err != nil || rev == 0 || l.Status == "running" {
			continue
		}
		if err := s.kv.Purge(ctx, k); err != nil {
			return n, fmt.Errorf("state: delete %s: %w", k, err)
		}
		n++
	}
	return n, nil
}

// Loads returns the load history, oldest first.
func (s *Store) Loads(ctx context.Context) ([]Load, error) {
	keys, err := s.loadKeys(ctx)
	if err != nil {
		return nil, err
	}
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
		if !isConflict(err) {
			return fmt.Errorf("state: put progress: %w", err)
		}
	}
	return fmt.Errorf("state: put progress %s: too much contention", dest)
}

func resumeKey(key string) string { return "resume." + queue.Token(key) }

// Resumable returns the last load run with key if it is not completed (its
// process died, it was interrupted, or a destination failed): a run with the
// same key carries it on. ok is false when there is none, or it completed.
func (s *Store) Resumable(ctx context.Context, key string) (l Load, ok bool, err error) {
	if _, err := s.get(ctx, resumeKey(key), &l); err != nil {
		return Load{}, false, err
	}
	// A completed load (Run) or one whose producer published it all
	// (Produce) is done with its key: the same input again is a new load.
	if l.LoadID == "" || l.Status == "completed" || l.Status == "published" {
		return Load{}, false, nil
	}
	return l, true, nil
}

// SaveResume records the state of the load run with its resume key.
func (s *Store) SaveResume(ctx context.Context, l Load) error {
	return s.put(ctx, resumeKey(l.ResumeKey), Load{LoadID: l.LoadID, Status: l.Status, Started: l.Started,
		ResumeKey: l.ResumeKey, Queued: l.Queued})
}
