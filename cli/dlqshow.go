package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/fanoutbridge/bridge"
)

// showDeadLetters prints each dead letter that matches f in full: what
// dlq list shows, the whole error, and its rows as JSON lines.
func showDeadLetters(ctx context.Context, p *bridge.Pipeline, f bridge.DeadLetterFilter, stdout io.Writer) error {
	dead, err := p.DeadLetters(ctx, f)
	if err != nil {
		return err
	}
	for i, d := range dead {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		fmt.Fprintf(stdout, "dead letter %d of %d\n", i+1, len(dead))
		for _, kv := range [][2]string{
			{"destination", d.Destination},
			{"table", quoteName(d.Table)},
			{"batch", d.MsgID},
			{"load", d.LoadID},
			{"reason", d.Reason},
			{"attempts", fmt.Sprint(d.Attempts)},
			{"time", d.Time.Format(time.RFC3339)},
			{"format", d.Format},
			{"rows", fmt.Sprint(d.Rows)},
		} {
			fmt.Fprintf(stdout, "  %-12s %s\n", kv[0]+":", kv[1])
		}
		fmt.Fprintln(stdout, "  error:")
		for _, line := range strings.Split(d.Error, "\n") {
			fmt.Fprintf(stdout, "    %s\n", line)
		}
		_, rows, err := p.DeadLetterRows(ctx, d)
		if err != nil {
			// An unreadable batch is one reason to dead-letter: say so and
			// go on with the others.
			fmt.Fprintf(stdout, "  rows: cannot be read: %s\n", message(err))
			continue
		}
		fmt.Fprintf(stdout, "  rows (%s, JSON lines):\n", pluralN(len(rows), "row", "rows"))
		for _, r := range rows {
			b, err := json.Marshal(r)
			if err != nil {
				return fmt.Errorf("dead letter %s: row as JSON: %w", d.MsgID, err)
			}
			fmt.Fprintf(stdout, "%s\n", b)
		}
	}
	fmt.Fprintln(stdout, pluralN(len(dead), "dead letter", "dead letters"))
	return nil
}
