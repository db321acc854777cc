package state_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/fanoutbridge/bridge/internal/queuetest"
	"github.com/fanoutbridge/bridge/queue"
	"github.com/fanoutbridge/bridge/schema"
	"github.com/fanoutbridge/bridge/state"
)

func open(t *testing.T) *state.Store {
	t.Helper()
	s := queuetest.RunJetStream(t)
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	q, err := queue.Open(ctx, nc, queue.Config{Pipeline: "p"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := state.Open(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestSchemaLoadsAndProgress(t *testing.T) {
	st := open(t)
	ctx := context.Background()

	sc, err := st.Schema(ctx)
	if err != nil || sc.Version != 0 || len(sc.Tables) != 0 {
		t.Fatalf("empty schema: %+v %v", sc, err)
	}
	tb := schema.NewTable("users", "")
	if err := tb.AddColumn(schema.Column{Name: "id", DataType: schema.TypeBigInt, Nullable: true}); err != nil {
		t.Fatal(err)
	}
	if err := st.SaveSchema(ctx, state.Schema{Version: 3, Tables: []*schema.Table{tb}}); err != nil {
		t.Fatal(err)
	}
	sc, err = st.Schema(ctx)
	if err != nil || sc.Version != 3 || len(sc.Tables) != 1 {
		t.Fatalf("schema back: %+v %v", sc, err)
	}
	if c, ok := sc.Tables[0].Column("id"); !ok || c.DataType != schema.TypeBigInt {
		t.Fatalf("column back: %+v", c)
	}

	for _, id := range []string{"2.000001", "1.000001"} {
		if err := st.SaveLoad(ctx, state.Load{LoadID: id, Status: "completed"}); err != nil {
			t.Fatal(err)
		}
	}
	loads, err := st.Loads(ctx)
	if err != nil || len(loads) != 2 || loads[0].LoadID != "1.000001" {
		t.Fatalf("loads: %+v %v", loads, err)
	}

	// Several workers add at once; nothing is lost.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if err := st.AddProgress(ctx, "dest", 10, 1, 0); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	p, err := st.Progress(ctx, "dest")
	if err != nil || p.Items != 80 || p.Batches != 8 {
		t.Fatalf("progress: %+v %v", p, err)
	}
}

func TestResumeKey(t *testing.T) {
	st := open(t)
	ctx := context.Background()
	if l, ok, err := st.Resumable(ctx, "file.jsonl:1:2"); err != nil || ok {
		t.Fatalf("no load yet: %+v %v", l, err)
	}
	l := state.Load{LoadID: "5.5", Status: "running", ResumeKey: "file.jsonl:1:2"}
	if err := st.SaveResume(ctx, l); err != nil {
		t.Fatal(err)
	}
	if got, ok, _ := st.Resumable(ctx, "file.jsonl:1:2"); !ok || got.LoadID != "5.5" || got.Queued {
		t.Fatalf("running load not resumable: %+v", got)
	}
	l.Status, l.Queued = "failed", true
	if err := st.SaveResume(ctx, l); err != nil {
		t.Fatal(err)
	}
	if got, ok, _ := st.Resumable(ctx, "file.jsonl:1:2"); !ok || got.LoadID != "5.5" || !got.Queued {
		t.Fatalf("failed load with its input stored not resumable: %+v", got)
	}
	l.Status = "completed"
	if err := st.SaveResume(ctx, l); err != nil {
		t.Fatal(err)
	}
	if got, ok, _ := st.Resumable(ctx, "file.jsonl:1:2"); ok {
		t.Fatalf("completed load resumable: %+v", got)
	}
}

// The history keeps the newest loads and never drops one still running.
func TestPruneLoads(t *testing.T) {
	st := open(t)
	ctx := ctx30(t)
	for i := range 6 {
		status := "completed"
		if i == 1 {
			status = "running"
		}
		if err := st.SaveLoad(ctx, state.Load{LoadID: fmt.Sprintf("1700000000.%06d", i), Status: status}); err != nil {
			t.Fatal(err)
		}
	}
	n, err := st.PruneLoads(ctx, 3)
	if err != nil || n != 2 {
		t.Fatalf("PruneLoads: %d, %v; want 2 deleted", n, err)
	}
	loads, err := st.Loads(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, l := range loads {
		ids = append(ids, l.LoadID[len(l.LoadID)-1:])
	}
	if got := strings.Join(ids, ","); got != "1,3,4,5" {
		t.Fatalf("loads left %s, want 1 (running),3,4,5", got)
	}
}
