package consumer

import (
	"testing"
	"time"

	"github.com/fanoutbridge/bridge/queue"
)

func d(table string, seq uint64) *queue.Delivery {
	return &queue.Delivery{BatchHeader: queue.BatchHeader{Table: table}, StreamSeq: seq}
}

// fill reserves room and queues the deliveries.
func fill(t *testing.T, s *scheduler, ds ...*queue.Delivery) {
	t.Helper()
	n := s.reserve()
	if n < len(ds) {
		t.Fatalf("room for %d, want %d", n, len(ds))
	}
	for _, x := range ds {
		s.push(x)
	}
	s.unreserve(n - len(ds))
}

func TestSchedulerStrategies(t *testing.T) {
	for _, tc := range []struct {
		name     string
		strategy Strategy
		// take is how many batches may be taken at once, in order.
		want []uint64
	}{
		{"parallel takes in arrival order", Parallel, []uint64{1, 2, 3, 4}},
		{"table-sequential skips busy tables", TableSequential, []uint64{1, 3}},
		{"sequential takes one", Sequential, []uint64{1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newScheduler(tc.strategy, 10)
			fill(t, s, d("a", 1), d("a", 2), d("b", 3), d("b", 4))
			var got []uint64
			for range len(tc.want) {
				x, ok := s.next()
				if !ok {
					t.Fatal("closed")
				}
				got = append(got, x.StreamSeq)
			}
			for i := range tc.want {
				if got[i] != tc.want[i] {
					t.Fatalf("took %v, want %v", got, tc.want)
				}
			}
			if tc.strategy != Parallel {
				if i := s.runnable(); i >= 0 {
					t.Fatalf("batch %d runnable while its table is busy", s.queue[i].StreamSeq)
				}
			}
			left := s.close()
			if len(left)+len(got) != 4 {
				t.Fatalf("close returned %d never started, want %d", len(left), 4-len(got))
			}
			if _, ok := s.next(); ok {
				t.Fatal("next after close")
			}
		})
	}
}

// Finishing a table's batch lets its next one run; room frees up.
func TestSchedulerDoneReleases(t *testing.T) {
	s := newScheduler(TableSequential, 3)
	fill(t, s, d("a", 1), d("a", 2), d("b", 3))
	if s.free() != 0 {
		t.Fatalf("free %d, want 0", s.free())
	}
	x, _ := s.next()
	y, _ := s.next()
	if x.StreamSeq != 1 || y.StreamSeq != 3 {
		t.Fatalf("took %d and %d", x.StreamSeq, y.StreamSeq)
	}
	s.done(x)
	z, _ := s.next()
	if z.StreamSeq != 2 {
		t.Fatalf("after done took %d, want 2", z.StreamSeq)
	}
	if s.free() != 1 {
		t.Fatalf("free %d, want 1", s.free())
	}
}

func ds(table string, streamSeq uint64, seq int) *queue.Delivery {
	return &queue.Delivery{BatchHeader: queue.BatchHeader{LoadID: "L", Table: table, Seq: seq}, StreamSeq: streamSeq}
}

// Under TableSequential a batch whose predecessor (in its load and table)
// this process has not received waits for it: a batch the server handed
// out but the process lost comes back after the ack wait, and must still
// go first. After gapWait the scheduler goes on without it.
func TestSchedulerHoldsGaps(t *testing.T) {
	s := newScheduler(TableSequential, 10)
	s.gapWait = 200 * time.Millisecond
	fill(t, s, ds("a", 1, 1))
	x, _ := s.next()
	s.done(x)
	fill(t, s, ds("a", 3, 3), ds("b", 4, 1)) // batch 2 of a was lost on its way
	if y, _ := s.next(); y.Table != "b" {
		t.Fatalf("took %s %d, want b's batch while a waits for its batch 2", y.Table, y.Seq)
	} else {
		s.done(y)
	}
	if i := s.runnable(); i >= 0 {
		t.Fatalf("a's batch 3 runnable before its batch 2")
	}
	fill(t, s, ds("a", 2, 2)) // handed out again, after batch 3
	if y, _ := s.next(); y.Seq != 2 {
		t.Fatalf("took a's batch %d, want 2", y.Seq)
	} else {
		s.done(y)
	}
	if y, _ := s.next(); y.Seq != 3 {
		t.Fatalf("took a's batch %d, want 3", y.Seq)
	} else {
		s.done(y)
	}
	// A gap that never fills: the batch runs after gapWait.
	fill(t, s, ds("a", 9, 5))
	start := time.Now()
	y, _ := s.next()
	if y.Seq != 5 || time.Since(start) < 150*time.Millisecond {
		t.Fatalf("took batch %d after %v, want 5 after the gap wait", y.Seq, time.Since(start))
	}
}
