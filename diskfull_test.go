package bridge

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fanoutbridge/bridge/queue"
)

// Recovery acceptance 2: the embedded store's disk fills mid-load: the run
// fails with a clear error within 30 s; once space is freed, the same
// command again completes with nothing lost.
func TestDiskFullThenFreed(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root")
	}
	mnt := filepath.Join(t.TempDir(), "tmpfs")
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", mnt).CombinedOutput(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("mount tmpfs (required under CI): %v: %s", err, out)
		}
		t.Skipf("cannot mount a tmpfs here: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", mnt).Run() })
	ballast := filepath.Join(mnt, "ballast")
	if err := os.WriteFile(ballast, make([]byte, 8<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(mnt, "data")
	out := filepath.Join(t.TempDir(), "ids.txt")
	const n = 60_000
	items := make([]any, n)
	pad := strings.Repeat("x", 200)
	for i := range items {
		items[i] = map[string]any{"id": i, "pad": pad}
	}
	p, err := NewPipeline("full", NewDestination("d", appendIDs(out, 200*time.Millisecond), BatchSize(1000), MaxParallelLoadJobs(2)),
		WithDataDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = p.Run(ctxT(t), items, TableName("t"), ResumeKey("big-1"))
	elapsed := time.Since(start)
	p.Close()
	if !errors.Is(err, queue.ErrStoreFull) || !strings.Contains(err.Error(), "free space") {
		t.Fatalf("run on a full disk: %v, want an error that says the store is full and to free space", err)
	}
	if elapsed > 30*time.Second {
		t.Fatalf("the error came after %v, want within 30 s", elapsed)
	}
	t.Logf("failed after %v: %v", elapsed.Round(time.Millisecond), err)

	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	p2, err := NewPipeline("full", NewDestination("d", appendIDs(out, 0), BatchSize(1000)), WithDataDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := p2.Run(ctx, items, TableName("t"), ResumeKey("big-1")); err != nil {
		t.Fatalf("the same command after freeing space: %v", err)
	}
	counts, _ := delivered(t, out)
	for id := range n {
		if counts[id] == 0 {
			t.Fatalf("item %d lost", id)
		}
	}
}
