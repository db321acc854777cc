package consumer

import (
	"testing"

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
