package file_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fanoutbridge/bridge/sinks/file"
	"github.com/fanoutbridge/bridge/sinktest"
)

// The sink passes the conformance suite: a batch written again replaces
// its file, so it is exactly once; a directory keeps no order.
func TestConformance(t *testing.T) {
	sinktest.Run(t, sinktest.Harness{
		ExactlyOnce: true,
		Unordered:   true,
		New: func(t *testing.T) sinktest.Target {
			dir := t.TempDir()
			s, err := file.New(file.Config{Dir: dir})
			if err != nil {
				t.Fatal(err)
			}
			return sinktest.Target{Sink: s, Read: func(ctx context.Context, table string) ([]sinktest.Got, error) {
				files, err := filepath.Glob(filepath.Join(dir, table, "*.jsonl"))
				if err != nil {
					return nil, err
				}
				var out []sinktest.Got
				for _, f := range files {
					b, err := os.ReadFile(f)
					if err != nil {
						return nil, err
					}
					batchID := strings.TrimSuffix(filepath.Base(f), ".jsonl")
					for line := range strings.SplitSeq(strings.TrimSuffix(string(b), "\n"), "\n") {
						var row struct {
							ID int64 `json:"id"`
						}
						if err := json.Unmarshal([]byte(line), &row); err != nil {
							return nil, err
						}
						out = append(out, sinktest.Got{ID: row.ID, BatchID: batchID})
					}
				}
				return out, nil
			}}
		},
	})
}
