package bridge

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// A batch that blocks its table (TableSequential, failing every attempt) is
// set aside by hand with DeadLetterPending: the next run delivers the rest
// of the table without calling the destination with it, the other
// destination is not affected, and a replay brings it back once.
func TestDeadLetterPending(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := ctxT(t)
		e := newEnv(t, b)
		var blocked, other recorder
		poison := func(items []Row, _ Table) error {
			for _, it := range items {
				if it["id"] == int64(3) {
					return errors.New("will not take id 3")
				}
			}
			return nil
		}
		blocked.setFail(poison)
		a := NewDestination("a", blocked.fn, BatchSize(5), MaxRetries(2), RetryBackoff(time.Millisecond, 2*time.Millisecond),
			LoaderParallelismStrategy(TableSequential))
		p := e.open(a, WithDestinations(NewDestination("b", other.fn, BatchSize(5))))
		items := make([]any, 15)
		for i := range items {
			items[i] = map[string]any{"id": i}
		}
		info, err := p.Run(ctx, items, TableName("t"))
		var re *RetriesError
		if !errors.As(err, &re) {
			t.Fatalf("Run: %v, want a RetriesError", err)
		}
		if n := len(other.byTable()["t"]); n != 15 {
			t.Fatalf("destination b got %d items, want 15", n)
		}
		if n := len(blocked.byTable()["t"]); n != 0 {
			t.Fatalf("destination a got %d items before the blocking batch, want 0", n)
		}
		_ = info

		// Mistakes are named.
		if err := p.DeadLetterPending(ctx, "nosuch", re.BatchID, ""); !errors.Is(err, ErrNoDestination) {
			t.Errorf("unknown destination: %v, want ErrNoDestination", err)
		}
		if err := p.DeadLetterPending(ctx, "a", "nosuch", ""); !errors.Is(err, ErrNoPendingBatch) {
			t.Errorf("unknown batch: %v, want ErrNoPendingBatch", err)
		}
		if err := p.DeadLetterPending(ctx, "b", re.BatchID, ""); !errors.Is(err, ErrNoPendingBatch) {
			t.Errorf("a batch b has taken: %v, want ErrNoPendingBatch", err)
		}

		if err := p.DeadLetterPending(ctx, "a", re.BatchID, "blocks the table"); err != nil {
			t.Fatalf("DeadLetterPending: %v", err)
		}
		if err := p.DeadLetterPending(ctx, "a", re.BatchID, ""); err == nil {
			t.Errorf("setting the same batch aside twice: no error")
		}
		dead, err := p.DeadLetters(ctx, DeadLetterFilter{Destination: "a"})
		if err != nil || len(dead) != 1 || dead[0].MsgID != re.BatchID || dead[0].Reason != "manual" ||
			dead[0].Error != "blocks the table" || dead[0].Rows != 5 {
			t.Fatalf("dead letters of a: %+v, %v; want the set-aside batch", dead, err)
		}
		st, err := p.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range st.Destinations {
			if want := map[string]uint64{"a": 1, "b": 0}[d.Name]; d.DeadLetters != want {
				t.Errorf("status: destination %s has %d dead letters now, want %d", d.Name, d.DeadLetters, want)
			}
		}

		// The rest of the table goes on; the set-aside batch is not called.
		if _, err := p.Run(ctx, nil); err != nil {
			t.Fatalf("Run after setting the batch aside: %v", err)
		}
		got := blocked.byTable()["t"]
		if len(got) != 10 {
			t.Fatalf("destination a got %d items, want the 10 of the other batches: %v", len(got), got)
		}
		for _, it := range got {
			if id := it["id"].(int64); id < 5 {
				t.Fatalf("destination a got item %d of the set-aside batch", id)
			}
		}

		// A replay brings it back, for a alone, once.
		blocked.setFail(nil)
		if n, err := p.ReplayDeadLetters(ctx, DeadLetterFilter{Destination: "a"}); err != nil || n != 1 {
			t.Fatalf("ReplayDeadLetters: %d, %v", n, err)
		}
		if _, err := p.Run(ctx, nil); err != nil {
			t.Fatalf("Run after the replay: %v", err)
		}
		seen := map[string]int{}
		for _, it := range blocked.byTable()["t"] {
			seen[fmt.Sprint(it["id"])]++
		}
		for i := range 15 {
			if seen[fmt.Sprint(i)] != 1 {
				t.Errorf("destination a got item %d %d times, want once", i, seen[fmt.Sprint(i)])
			}
		}
		if n := len(other.byTable()["t"]); n != 15 {
			t.Errorf("destination b got %d items in the end, want 15 (the replay is not for it)", n)
		}
		st, err = p.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range st.Destinations {
			if d.Pending != 0 || d.InFlight != 0 || d.DeadLetters != 0 {
				t.Errorf("status after the replay: %+v, want nothing pending or dead-lettered", d)
			}
		}
	})
}
