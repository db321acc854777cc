package bridge

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/fanoutbridge/bridge/normalize"
	"github.com/fanoutbridge/bridge/schema"
	"github.com/fanoutbridge/bridge/state"
)

// TestBadRecordLineNumbers: a value that cannot be normalized is reported
// with its input line, though a malformed line and a blank line before it
// were skipped; input that is not JSON lines is numbered by item.
func TestBadRecordLineNumbers(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		t.Run("json lines", func(t *testing.T) {
			rec := &recorder{}
			p := newEnv(t, b).open(NewDestination("d", rec.fn))
			// A schema stored before names were recorded (no Keys), where a
			// key's column took the name of n's double variant with another
			// type: 1.5 into n fits neither n nor n__v_double.
			old := schema.NewTable("t", "")
			for _, c := range []schema.Column{
				{Name: "n", DataType: schema.TypeBigInt, Nullable: true},
				{Name: "n__v_double", DataType: schema.TypeBool, Nullable: true},
			} {
				if err := old.AddColumn(c); err != nil {
					t.Fatal(err)
				}
			}
			if err := p.st.SaveSchema(ctxT(t), state.Schema{Version: 1, Tables: []*schema.Table{old}}); err != nil {
				t.Fatal(err)
			}
			in := strings.Join([]string{
				`{"n":1}`,   // 1
				`{"n":2}`,   // 2
				`{"n":`,     // 3 malformed
				``,          // 4 blank
				`{"n":3}`,   // 5
				`{"n":4}`,   // 6
				`{"n":1.5}`, // 7 cannot be normalized
				`{"n":5}`,   // 8
			}, "\n") + "\n"
			info, err := p.Run(ctxT(t), strings.NewReader(in), TableName("t"))
			if !errors.Is(err, ErrBadInput) {
				t.Fatalf("Run error = %v, want ErrBadInput", err)
			}
			var lines []int
			for _, e := range info.BadRecords {
				lines = append(lines, e.Line)
			}
			if !slices.Equal(lines, []int{3, 7}) || !errors.Is(info.BadRecords[1], normalize.ErrCoerce) {
				t.Fatalf("bad records %v, want lines 3 and 7 (the second a coerce error)", info.BadRecords)
			}
			if !strings.Contains(err.Error(), "line 7: ") {
				t.Errorf("Run error does not name line 7: %v", err)
			}
			if n := len(rec.byTable()["t"]); n != 5 {
				t.Errorf("%d items delivered, want 5", n)
			}
		})
		t.Run("items", func(t *testing.T) {
			rec := &recorder{}
			p := newEnv(t, b).open(NewDestination("d", rec.fn))
			in := []any{1, 2, 3, 4, 5, 6, make(chan int), 8}
			info, err := p.Run(ctxT(t), in, TableName("t"))
			if !errors.Is(err, ErrBadInput) || len(info.BadRecords) != 1 || info.BadRecords[0].Line != 7 {
				t.Fatalf("Run: %v, bad records %v, want item 7", err, info.BadRecords)
			}
		})
	})
}
