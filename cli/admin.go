package cli

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/fanoutbridge/bridge"
	"github.com/fanoutbridge/bridge/state"
)

const statusAbout = `
Shows what the pipeline holds: batches pending per table, where each
destination stands (pending, in flight, redelivered, delivered so far), dead
letters per table, and the recent loads.`

func cmdStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("status", "bridge status [options]", statusAbout, stderr)
	var c common
	c.register(fs)
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	p, err := openAdmin(c, stderr)
	if err != nil {
		return err
	}
	defer p.Close()
	s, err := p.Status(ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintf(w, "pipeline %s: %d batches stored (%d bytes)\n\n", s.Pipeline, s.Batches, s.Bytes)
	fmt.Fprintln(w, "DESTINATION\tPENDING\tIN FLIGHT\tREDELIVERED\tDELIVERED ITEMS\tBATCHES\tDEAD LETTERS")
	for _, d := range s.Destinations {
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\t%d\t%d\n", d.Name, d.Pending, d.InFlight, d.Redelivered,
			d.Delivered.Items, d.Delivered.Batches, d.Delivered.DeadLetters)
	}
	fmt.Fprintln(w, "\nTABLE\tSTORED BATCHES\tDEAD LETTERS")
	tables := slices.Sorted(maps.Keys(s.PendingBatches))
	for t := range s.DeadLetters {
		if _, ok := s.PendingBatches[t]; !ok {
			tables = append(tables, t)
		}
	}
	for _, t := range tables {
		fmt.Fprintf(w, "%q\t%d\t%d\n", t, s.PendingBatches[t], s.DeadLetters[t])
	}
	fmt.Fprintln(w, "\nLOAD\tDESTINATION\tSTATUS\tSTARTED\tA RERUN OF THE SAME INPUT\tERROR")
	for _, l := range s.Loads {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%.80s\n", l.LoadID, l.Destination, l.Status, l.Started.Format(time.RFC3339), rerunOf(l), l.Error)
	}
	return w.Flush()
}

// rerunOf says what running the same input again does to a load.
func rerunOf(l state.Load) string {
	switch {
	case l.Status == "completed":
		return "loads it again as a new load"
	case l.ResumeKey == "":
		return "-" // stdin or Go values: nothing to resume by; pending batches are delivered by any run
	case l.Queued:
		return "delivers what is pending, publishes nothing"
	default:
		return "carries on reading where it stopped"
	}
}

const dlqAbout = `
Dead letters are batches a destination rejected with a terminal error (or that
could not be read). They keep the batch and say why.

  list     show them: destination, table, batch id, rows, reason, attempts, time, error
  replay   put them back on their tables for the destination that dead-lettered
           them (and no other); the next run of it delivers them
  purge    delete them`

func cmdDLQ(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("dlq", "bridge dlq list|replay|purge [options]", dlqAbout, stderr)
	var c common
	c.register(fs)
	dest := fs.String("destination", "", "only the dead letters of this `destination`")
	table := fs.String("table", "", "only this `table`")
	batch := fs.String("batch", "", "only this batch `id`")
	if len(args) == 0 || (args[0] != "list" && args[0] != "replay" && args[0] != "purge") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fs.Usage()
			return nil
		}
		fmt.Fprintln(stderr, "bridge dlq: say list, replay or purge; see bridge dlq --help")
		return errUsage
	}
	verb := args[0]
	if help, err := parseFlags(fs, args[1:]); help || err != nil {
		return err
	}
	p, err := openAdmin(c, stderr)
	if err != nil {
		return err
	}
	defer p.Close()
	f := bridge.DeadLetterFilter{Destination: *dest, Table: *table, MsgID: *batch}
	switch verb {
	case "list":
		dead, err := p.DeadLetters(ctx, f)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(w, "DESTINATION\tTABLE\tBATCH\tROWS\tREASON\tATTEMPTS\tTIME\tERROR")
		for _, d := range dead {
			fmt.Fprintf(w, "%s\t%q\t%s\t%d\t%s\t%d\t%s\t%.100s\n", d.Destination, d.Table, d.MsgID, d.Rows, d.Reason, d.Attempts, d.Time.Format(time.RFC3339), d.Error)
		}
		fmt.Fprintf(w, "%d dead letters\n", len(dead))
		return w.Flush()
	case "replay":
		n, err := p.ReplayDeadLetters(ctx, f)
		fmt.Fprintf(stdout, "replayed %d dead letters; run the pipeline to deliver them\n", n)
		return err
	default:
		n, err := p.PurgeDeadLetters(ctx, f)
		fmt.Fprintf(stdout, "purged %d dead letters\n", n)
		return err
	}
}

func openAdmin(c common, stderr io.Writer) (*bridge.Pipeline, error) {
	opts, _, err := c.options(stderr)
	if err != nil {
		return nil, err
	}
	return bridge.Open(c.pipeline, opts...)
}

const dropAbout = `
Deletes everything the pipeline keeps in NATS: pending batches, dead letters,
large objects, the ledger and the state (schemas, load history, progress).
It cannot be undone; --yes confirms.`

func cmdDrop(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("drop", "bridge drop --yes [options]", dropAbout, stderr)
	var c common
	c.register(fs)
	yes := fs.Bool("yes", false, "really delete")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if !*yes {
		fmt.Fprintf(stderr, "bridge drop: this deletes everything pipeline %q keeps; say --yes\n", c.pipeline)
		return errUsage
	}
	p, err := openAdmin(c, stderr)
	if err != nil {
		return err
	}
	if err := p.Drop(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "dropped pipeline %s\n", c.pipeline)
	return nil
}
