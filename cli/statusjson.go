package cli

import (
	"maps"
	"slices"
	"time"

	"github.com/fanoutbridge/bridge"
	"github.com/fanoutbridge/bridge/state"
)

// statusJSON is bridge status --json: what the text status shows.
type statusJSON struct {
	Pipeline      string            `json:"pipeline"`
	StoredBatches uint64            `json:"stored_batches"`
	StoredBytes   uint64            `json:"stored_bytes"`
	Destinations  []destStatusJSON  `json:"destinations"`
	Tables        []tableStatusJSON `json:"tables"`
	DeadLettersOf map[string]uint64 `json:"dead_letters_of"`
	Loads         []loadStatusJSON  `json:"loads"`
}

type destStatusJSON struct {
	Name        string     `json:"name"`
	Pending     uint64     `json:"pending"`
	InFlight    int        `json:"in_flight"`
	Redelivered int        `json:"redelivered"`
	DeadLetters uint64     `json:"dead_letters"` // in the dead-letter stream now
	Delivered   countsJSON `json:"delivered"`    // running totals; dead_letters: ever dead-lettered
	// Latency: from stored to first call, over the last calls a worker saw.
	Latency *latencyJSON `json:"latency,omitempty"`
}

type latencyJSON struct {
	P50Ms   float64   `json:"p50_ms"`
	P99Ms   float64   `json:"p99_ms"`
	MaxMs   float64   `json:"max_ms"`
	Calls   int       `json:"calls"`
	Updated time.Time `json:"updated"`
}

type countsJSON struct {
	Items       int64 `json:"items"`
	Batches     int64 `json:"batches"`
	DeadLetters int64 `json:"dead_letters"`
}

type tableStatusJSON struct {
	Name          string `json:"name"`
	StoredBatches uint64 `json:"stored_batches"`
	DeadLetters   uint64 `json:"dead_letters"`
}

type loadStatusJSON struct {
	LoadID      string                    `json:"load_id"`
	Destination string                    `json:"destination,omitempty"`
	Status      string                    `json:"status"`
	Started     time.Time                 `json:"started"`
	Finished    *time.Time                `json:"finished,omitempty"`
	Error       string                    `json:"error,omitempty"`
	Produced    map[string]tableCountJSON `json:"produced,omitempty"`
	Delivered   map[string]tableCountJSON `json:"delivered,omitempty"`
}

type tableCountJSON struct {
	Items       int `json:"items"`
	Batches     int `json:"batches"`
	DeadLetters int `json:"dead_letters"`
}

func statusJSONOf(s bridge.Status) statusJSON {
	out := statusJSON{Pipeline: s.Pipeline, StoredBatches: s.Batches, StoredBytes: s.Bytes,
		Destinations: []destStatusJSON{}, Tables: []tableStatusJSON{}, DeadLettersOf: map[string]uint64{}, Loads: []loadStatusJSON{}}
	for _, d := range s.Destinations {
		out.Destinations = append(out.Destinations, destStatusJSON{Name: d.Name, Pending: d.Pending, InFlight: d.InFlight,
			Redelivered: d.Redelivered, DeadLetters: d.DeadLetters,
			Delivered: countsJSON{Items: d.Delivered.Items, Batches: d.Delivered.Batches, DeadLetters: d.Delivered.DeadLetters}})
		if l := d.Latency; l.Calls > 0 {
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
			out.Destinations[len(out.Destinations)-1].Latency = &latencyJSON{P50Ms: ms(l.P50), P99Ms: ms(l.P99), MaxMs: ms(l.Max), Calls: l.Calls, Updated: l.Updated}
		}
	}
	tables := map[string]bool{}
	for t := range s.PendingBatches {
		tables[t] = true
	}
	for t := range s.DeadLetters {
		tables[t] = true
	}
	for _, t := range slices.Sorted(maps.Keys(tables)) {
		out.Tables = append(out.Tables, tableStatusJSON{Name: t, StoredBatches: s.PendingBatches[t], DeadLetters: s.DeadLetters[t]})
	}
	for d, n := range s.DeadLettersOf {
		if d != "" {
			out.DeadLettersOf[d] = n
		}
	}
	for _, l := range s.Loads {
		lj := loadStatusJSON{LoadID: l.LoadID, Destination: l.Destination, Status: l.Status, Started: l.Started, Error: l.Error,
			Produced: tableCounts(l.Produced), Delivered: tableCounts(l.Delivered)}
		if !l.Finished.IsZero() {
			f := l.Finished
			lj.Finished = &f
		}
		out.Loads = append(out.Loads, lj)
	}
	return out
}

func tableCounts(m map[string]state.TableCount) map[string]tableCountJSON {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]tableCountJSON, len(m))
	for t, c := range m {
		out[t] = tableCountJSON{Items: c.Items, Batches: c.Batches, DeadLetters: c.DeadLetters}
	}
	return out
}
