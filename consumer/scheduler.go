package consumer

import (
	"sync"
	"time"

	"github.com/fanoutbridge/bridge/queue"
)

// scheduler holds the batches a process has fetched and hands them to
// workers by the strategy. It bounds how many runnable batches are held at
// once. Under TableSequential, batches waiting behind a busy table of theirs
// do not count against that bound (so a table that retries never holds back
// another table): they let go of their payload while they wait, and the
// consumer's MaxAckPending bounds them.
type scheduler struct {
	mu       sync.Mutex
	work     *sync.Cond // a batch may have become runnable, or closed
	room     *sync.Cond // room may have become free, or closed
	strategy Strategy
	capacity int
	reserved int
	queue    []*queue.Delivery // fetched, not started, in arrival order
	running  map[*queue.Delivery]struct{}
	busy     map[string]bool // tables with a call running (TableSequential)
	closed   bool

	// Under TableSequential, a batch the server handed out but this process
	// never received (a fetch that ended as it arrived) comes back only
	// after the ack wait. So the scheduler takes each table's batches in
	// stream order, and holds a batch whose predecessor in its load and
	// table it has not seen for up to gapWait, for the predecessor to come
	// back first.
	expect   map[string]int       // by load and table: the batch seq expected next
	gapSince map[string]time.Time // by load and table: since when a gap is held
	gapWait  time.Duration
}

// DefaultGapWait is how long a TableSequential scheduler holds a batch whose
// predecessor it has not received (see scheduler).
const DefaultGapWait = 15 * time.Second

func newScheduler(s Strategy, capacity int) *scheduler {
	sc := &scheduler{
		strategy: s,
		capacity: capacity,
		running:  make(map[*queue.Delivery]struct{}),
		busy:     make(map[string]bool),
		expect:   make(map[string]int),
		gapSince: make(map[string]time.Time),
		gapWait:  DefaultGapWait,
	}
	sc.work = sync.NewCond(&sc.mu)
	sc.room = sync.NewCond(&sc.mu)
	return sc
}

func (s *scheduler) free() int {
	queued := len(s.queue)
	if s.strategy == TableSequential {
		for _, d := range s.queue {
			if _, held := s.gapSince[seqKey(d)]; s.busy[d.Table] || held {
				queued-- // waiting for another batch, not for a worker
			}
		}
	}
	return s.capacity - s.reserved - queued - len(s.running)
}

// reserve blocks until there is room, reserves all of it and returns how many
// slots it reserved; 0 once closed.
func (s *scheduler) reserve() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for !s.closed && s.free() <= 0 {
		s.room.Wait()
	}
	if s.closed {
		return 0
	}
	n := s.free()
	s.reserved += n
	return n
}

// unreserve gives back reservations a fetch did not fill.
func (s *scheduler) unreserve(n int) {
	s.mu.Lock()
	s.reserved -= n
	s.mu.Unlock()
	s.room.Signal()
}

// push queues a fetched batch, using one reservation. It reports false if
// the scheduler is closed; the caller then owns d.
func (s *scheduler) push(d *queue.Delivery) bool {
	s.mu.Lock()
	s.reserved--
	if s.closed {
		s.mu.Unlock()
		return false
	}
	s.queue = append(s.queue, d)
	if s.busy[d.Table] {
		d.Shed()
	}
	s.mu.Unlock()
	s.work.Signal()
	return true
}

// next blocks until a batch may run and returns it; false once closed.
func (s *scheduler) next() (*queue.Delivery, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if s.closed {
			return nil, false
		}
		if i := s.runnable(); i >= 0 {
			d := s.queue[i]
			s.queue = append(s.queue[:i], s.queue[i+1:]...)
			s.running[d] = struct{}{}
			if s.strategy == TableSequential {
				s.busy[d.Table] = true
				for _, w := range s.queue {
					if w.Table == d.Table {
						w.Shed()
					}
				}
			}
			if s.runnable() >= 0 {
				s.work.Signal() // pass the wake-up on
			}
			return d, true
		}
		s.work.Wait()
	}
}

func (s *scheduler) runnable() int {
	switch s.strategy {
	case TableSequential:
		// Each free table's first batch in stream order (a batch handed
		// out again arrives after later ones), tables by arrival.
		first := map[string]int{}
		var order []string
		for i, d := range s.queue {
			if s.busy[d.Table] {
				continue
			}
			j, ok := first[d.Table]
			if !ok {
				order = append(order, d.Table)
			}
			if !ok || d.StreamSeq < s.queue[j].StreamSeq {
				first[d.Table] = i
			}
		}
		for _, table := range order {
			if i := first[table]; !s.gapHeld(s.queue[i]) {
				return i
			}
		}
		return -1
	case Sequential:
		if len(s.running) > 0 || len(s.queue) == 0 {
			return -1
		}
		return 0
	default:
		if len(s.queue) == 0 {
			return -1
		}
		return 0
	}
}

func seqKey(d *queue.Delivery) string { return d.LoadID + "\x00" + d.Table }

// gapHeld reports whether d must wait for a batch before it in its load and
// table that this process has not received yet; it arranges a wake-up for
// when the wait ends.
func (s *scheduler) gapHeld(d *queue.Delivery) bool {
	if d.Seq == 0 || d.Target != "" {
		return false
	}
	key := seqKey(d)
	want := s.expect[key]
	if want == 0 || d.Seq <= want {
		return false
	}
	since, ok := s.gapSince[key]
	if !ok {
		s.gapSince[key] = time.Now()
		time.AfterFunc(s.gapWait, func() {
			s.mu.Lock()
			s.mu.Unlock()
			s.work.Broadcast()
		})
		return true
	}
	if time.Since(since) < s.gapWait {
		return true
	}
	// The batch went elsewhere (another worker, a dead letter): go on.
	delete(s.gapSince, key)
	s.expect[key] = d.Seq
	return false
}

// expectAtLeast raises the batch expected next per load and table to
// next's (see Order).
func (s *scheduler) expectAtLeast(next map[string]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, seq := range next {
		if seq > s.expect[k] {
			s.expect[k] = seq
		}
	}
}

// done releases a batch a worker has finished with.
func (s *scheduler) done(d *queue.Delivery) {
	s.mu.Lock()
	delete(s.running, d)
	if s.strategy == TableSequential {
		delete(s.busy, d.Table)
		if d.Seq > 0 && d.Target == "" {
			key := seqKey(d)
			if d.Seq+1 > s.expect[key] {
				s.expect[key] = d.Seq + 1
			}
			delete(s.gapSince, key)
		}
	}
	s.mu.Unlock()
	s.room.Broadcast()
	s.work.Broadcast()
}

// held returns every batch held: queued and running.
func (s *scheduler) held() []*queue.Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*queue.Delivery, 0, len(s.queue)+len(s.running))
	out = append(out, s.queue...)
	for d := range s.running {
		out = append(out, d)
	}
	return out
}

// close stops handing out batches and returns those never started.
func (s *scheduler) close() []*queue.Delivery {
	s.mu.Lock()
	s.closed = true
	q := s.queue
	s.queue = nil
	s.mu.Unlock()
	s.work.Broadcast()
	s.room.Broadcast()
	return q
}

// takeTable removes and returns the queued batches of table, in arrival
// order: the runner parks them when the table is stopped.
func (s *scheduler) takeTable(table string) []*queue.Delivery {
	s.mu.Lock()
	var out []*queue.Delivery
	kept := s.queue[:0]
	for _, d := range s.queue {
		if d.Table == table {
			out = append(out, d)
		} else {
			kept = append(kept, d)
		}
	}
	clear(s.queue[len(kept):])
	s.queue = kept
	s.mu.Unlock()
	s.room.Broadcast()
	return out
}
