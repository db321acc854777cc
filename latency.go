package bridge

import (
	"context"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/fanoutbridge/bridge/state"
)

// latencyWindow is how many recent first calls a latency summary covers.
const latencyWindow = 4096

// latencies keeps, per destination, how long recent batches waited from
// being stored to their first call (produce-to-call latency).
type latencies struct {
	mu    sync.Mutex
	dests map[string]*ring
}

type ring struct {
	d     []time.Duration
	next  int
	dirty bool
}

func (l *latencies) add(dest string, d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dests == nil {
		l.dests = map[string]*ring{}
	}
	r := l.dests[dest]
	if r == nil {
		r = &ring{}
		l.dests[dest] = r
	}
	if len(r.d) < latencyWindow {
		r.d = append(r.d, d)
	} else {
		r.d[r.next] = d
		r.next = (r.next + 1) % latencyWindow
	}
	r.dirty = true
}

// summaries returns the summary of every destination with new calls since
// the last time, or of all with all.
func (l *latencies) summaries(all bool) map[string]state.Latency {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]state.Latency{}
	for dest, r := range l.dests {
		if !r.dirty && !all || len(r.d) == 0 {
			continue
		}
		r.dirty = false
		s := slices.Clone(r.d)
		slices.Sort(s)
		out[dest] = state.Latency{
			P50: s[len(s)/2], P99: s[min(len(s)-1, len(s)*99/100)], Max: s[len(s)-1],
			Calls: len(s), Updated: time.Now().UTC(),
		}
	}
	return out
}

// saveLatencies stores the latency summaries that changed.
func (p *Pipeline) saveLatencies(ctx context.Context) {
	for dest, l := range p.lat.summaries(false) {
		if err := p.st.SaveLatency(ctx, dest, l); err != nil {
			p.log.Debug("saving the latency summary", zap.String("destination", dest), zap.Error(err))
		}
	}
}
