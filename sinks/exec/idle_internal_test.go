package exec

import (
	"context"
	"os"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/fanoutbridge/bridge/schema"
)

// TestProgramExitingBetweenBatchesIsReplaced runs the test binary as a
// program that exits after each answer (mode "one-shot" of the child in
// main_test.go): the next batch goes to a fresh copy, not to the dead one.
func TestProgramExitingBetweenBatchesIsReplaced(t *testing.T) {
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.WarnLevel)
	s, err := New(Config{
		Argv:   []string{bin},
		Env:    append(os.Environ(), "BRIDGE_EXEC_TEST_MODE=one-shot", "BRIDGE_EXEC_TEST_DIR="+t.TempDir(), "GORACE=atexit_sleep_ms=0"),
		Logger: zap.New(core),
	})
	if err != nil {
		t.Fatal(err)
	}
	table := schema.NewTable("t", "")
	table.Columns = []schema.Column{{Name: "id", DataType: schema.TypeBigInt}}
	rows := []schema.Row{{"id": int64(1)}}
	if err := s.Write(context.Background(), table, "b1", rows); err != nil {
		t.Fatal(err)
	}
	sl := <-s.idle
	select {
	case <-sl.p.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("the one-shot program did not exit")
	}
	s.idle <- sl
	if err := s.Write(context.Background(), table, "b2", rows); err != nil {
		t.Fatalf("Write after the program exited: %v", err)
	}
	if n := logs.FilterMessage("destination program failed between batches; starting a new one").Len(); n != 1 {
		t.Errorf("logged %d warnings, want 1: %v", n, logs.All())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
