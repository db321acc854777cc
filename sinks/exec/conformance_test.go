package exec_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/fanoutbridge/bridge/sink"
	"github.com/fanoutbridge/bridge/sinks/exec"
	"github.com/fanoutbridge/bridge/sinktest"
)

// execSink adapts the exec sink to the sink contract.
type execSink struct{ s *exec.Sink }

func (e execSink) Write(ctx context.Context, b sink.Batch) error {
	return e.s.Write(ctx, &b.Table, b.ID, b.Rows)
}

func (e execSink) Close(ctx context.Context) error { return e.s.Close() }

// The exec sink passes the conformance suite: the program (this test binary
// in mode ok, one copy so its record keeps the order) records each batch's
// header and rows.
func TestConformance(t *testing.T) {
	sinktest.Run(t, sinktest.Harness{New: func(t *testing.T) sinktest.Target {
		s, dir := newSink(t, "ok")
		return sinktest.Target{Sink: execSink{s}, Read: func(ctx context.Context, table string) ([]sinktest.Got, error) {
			return readRecords(t, dir, table)
		}}
	}})
}

// readRecords reads what the program copies recorded for table.
func readRecords(t *testing.T, dir, table string) ([]sinktest.Got, error) {
	var out []sinktest.Got
	for _, pid := range childPIDs(t, dir) {
		f, err := os.Open(filepath.Join(dir, strconv.Itoa(pid)+".jsonl"))
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 64<<20)
		for sc.Scan() {
			var h struct {
				Batch string `json:"batch"`
				Table string `json:"table"`
				Rows  int    `json:"rows"`
			}
			if err := json.Unmarshal(sc.Bytes(), &h); err != nil {
				f.Close()
				return nil, err
			}
			for range h.Rows {
				if !sc.Scan() {
					break
				}
				var row struct {
					ID int64 `json:"id"`
				}
				if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
					f.Close()
					return nil, err
				}
				if h.Table == table {
					out = append(out, sinktest.Got{ID: row.ID, BatchID: h.Batch})
				}
			}
		}
		f.Close()
		if err := sc.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}
