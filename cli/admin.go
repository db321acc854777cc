package cli

import (
	"context"
	"encoding/json"
	"errors"
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
Shows what the pipeline holds: batches stored per table, where each
destination stands (pending, in flight, redelivered, delivered so far, dead
letters), notes on batches held for a destination, and the recent loads.

DEAD LETTERS counts a destination's dead letters in the dead-letter stream
now (replayed and purged ones are gone); EVER DEAD-LETTERED counts every batch
it dead-lettered since it joined.

--json prints the same as one JSON object: {"pipeline", "stored_batches",
"stored_bytes", "destinations": [{"name", "pending", "in_flight",
"redelivered", "dead_letters", "delivered": {"items", "batches",
"dead_letters"}}], "tables": [{"name", "stored_batches", "dead_letters"}],
"dead_letters_of": {destination: count}, "loads": [...]}.

Examples:
  bridge status
  bridge status --pipeline events --data-dir /srv/bridge/events
  bridge status --json | jq '.destinations[] | {name, pending, dead_letters}'`

func cmdStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("status", "bridge status [options]", statusAbout, stdout, stderr)
	var c common
	c.register(fs)
	asJSON := fs.Bool("json", false, "print the status as JSON")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if err := noArgs(fs.FlagSet, "status", stderr); err != nil {
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
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(statusJSONOf(s))
	}
	w := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintf(w, "pipeline %s: %s stored (%d bytes)\n\n", s.Pipeline, pluralN(s.Batches, "batch", "batches"), s.Bytes)
	fmt.Fprintln(w, "DESTINATION\tPENDING\tIN FLIGHT\tREDELIVERED\tDELIVERED ITEMS\tBATCHES\tDEAD LETTERS\tEVER DEAD-LETTERED\tLATENCY P50/P99")
	member := map[string]bool{}
	for _, d := range s.Destinations {
		member[d.Name] = true
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", d.Name, d.Pending, d.InFlight, d.Redelivered,
			d.Delivered.Items, d.Delivered.Batches, d.DeadLetters, d.Delivered.DeadLetters, latencyText(d.Latency))
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
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", l.LoadID, l.Destination, l.Status, l.Started.Format(time.RFC3339), rerunOf(l), ellipsis(l.Error, 80))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	printHeld(stdout, s, c)
	for _, dest := range slices.Sorted(maps.Keys(s.DeadLettersOf)) {
		if !member[dest] && dest != "" {
			fmt.Fprintf(stdout, "\nnote: %s of destination %s, no longer a member, are in the dead-letter stream; delete them with\n  %s\n",
				pluralN(s.DeadLettersOf[dest], "dead letter", "dead letters"), quoteName(dest), c.command("dlq", "purge", "--destination", dest))
		}
	}
	return nil
}

// printHeld notes the batches held for a destination that the others have
// taken: a load delivered to one destination and pending for another.
func printHeld(w io.Writer, s bridge.Status, c common) {
	printed := false
	for _, d := range s.Destinations {
		held := d.Pending + uint64(d.InFlight)
		if held == 0 {
			continue
		}
		fmt.Fprintf(w, "\nnote: the stream holds %s for destination %s, not yet delivered to it", pluralN(held, "batch", "batches"), quoteName(d.Name))
		if len(s.Destinations) > 1 {
			fmt.Fprint(w, " (whatever the other destinations took)")
		}
		fmt.Fprintf(w, "; it gets them when it runs:\n  %s\nor they are dropped for it if you remove it:\n  %s\n",
			c.command("run", "--input", "/dev/null", "--destination", d.Name),
			c.command("destinations", "remove", d.Name, "--yes"))
		printed = true
	}
	if note := c.passwordNote(); printed && note != "" {
		fmt.Fprintln(w, note)
	}
}

// ellipsis cuts s to n characters, ending it with "…" when it was longer.
func ellipsis(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// rerunOf says what running the same input again does to a load.
func rerunOf(l state.Load) string {
	switch {
	case l.Status == bridge.StatusPendingOnly:
		return "-" // it had no input
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
could not be read, or that were set aside by hand). They keep the batch and
say why. Dead letters are per destination.

  list         show them: destination, table, batch id, rows, reason, attempts, time, error
               (cut to 100 characters)
  show         show each in full: its whole error, reason, attempts, and its
               rows as JSON lines (one object per row, as the destination got
               them)
  replay       put them back on their tables for the destination that
               dead-lettered them (and no other); the next run of that
               destination delivers them (bridge run --input /dev/null
               --destination NAME delivers only what is pending)
  purge        delete them; without --yes it says how many it would delete
               and deletes nothing (exit status 2)
  dead-letter  set a pending batch of a destination aside by hand: move it to
               the dead-letter stream (reason "manual") so that destination
               is not called with it again, e.g. a batch that blocks its
               table; needs --destination, --batch (the id a run's error or
               the destination saw) and --yes; replay brings it back

--destination names a destination as bridge destinations list shows it
(file:/abs/dir, exec:COMMAND, stdout, LABEL); an unknown one exits with
status 2 and names those there are.

Examples:
  bridge dlq list
  bridge dlq list --destination stdout --table events
  bridge dlq show --destination stdout --batch bridge.1718000000.000001.events.3
  bridge dlq replay --destination 'file:/tmp/out dir'
  bridge dlq purge --destination stdout --batch bridge.1718000000.000001.events.3 --yes
  bridge dlq dead-letter --destination stdout --batch bridge.1718000000.000001.events.3 --reason 'bad row' --yes`

func cmdDLQ(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("dlq", "bridge dlq list|show|replay|purge|dead-letter [options]", dlqAbout, stdout, stderr)
	var c common
	c.register(fs)
	dest := fs.String("destination", "", "only the dead letters of this `destination` (dead-letter: the destination whose pending batch to set aside)")
	table := fs.String("table", "", "only this `table`")
	batch := fs.String("batch", "", "only this batch `id` (dead-letter: the pending batch to set aside)")
	reason := fs.String("reason", "", "dead-letter: why, kept with the dead letter as its error `text`")
	yes := fs.Bool("yes", false, "purge: really delete; dead-letter: really set the batch aside")
	verbs := []string{"list", "show", "replay", "purge", "dead-letter"}
	if len(args) == 0 || !slices.Contains(verbs, args[0]) {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fs.help()
			return nil
		}
		fmt.Fprintln(stderr, "bridge dlq: say list, show, replay, purge or dead-letter; see bridge dlq --help")
		return errUsage
	}
	verb := args[0]
	if help, err := parseFlags(fs, args[1:]); help || err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "bridge dlq: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	if verb == "dead-letter" {
		if *dest == "" || *batch == "" || *table != "" {
			fmt.Fprintln(stderr, "bridge dlq dead-letter: give --destination NAME and --batch ID (and no --table); see bridge dlq --help")
			return errUsage
		}
		if !*yes {
			fmt.Fprintf(stderr, "bridge dlq dead-letter: this takes batch %s away from destination %s until you replay it; say --yes:\n  %s\n",
				*batch, quoteName(*dest), c.command(deadLetterArgs(*dest, *batch, *reason)...))
			return errUsage
		}
	} else if *reason != "" {
		return usagef("--reason goes with dead-letter")
	} else if *yes && verb != "purge" {
		return usagef("--yes goes with purge and dead-letter")
	}
	p, err := openAdmin(c, stderr)
	if err != nil {
		return err
	}
	defer p.Close()
	if *dest != "" {
		if err := checkDestination(ctx, p, *dest, verb != "dead-letter", stderr); err != nil {
			return err
		}
	}
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
			fmt.Fprintf(w, "%s\t%q\t%s\t%d\t%s\t%d\t%s\t%s\n", d.Destination, d.Table, d.MsgID, d.Rows, d.Reason, d.Attempts, d.Time.Format(time.RFC3339), ellipsis(d.Error, 100))
		}
		fmt.Fprintln(w, pluralN(len(dead), "dead letter", "dead letters"))
		return w.Flush()
	case "show":
		return showDeadLetters(ctx, p, f, stdout)
	case "replay":
		dead, err := p.DeadLetters(ctx, f)
		if err != nil {
			return err
		}
		n, err := p.ReplayDeadLetters(ctx, f)
		fmt.Fprintf(stdout, "replayed %s\n", pluralN(n, "dead letter", "dead letters"))
		if n > 0 {
			fmt.Fprintln(stdout, "the next run of each destination delivers them; to deliver only what is pending:")
			seen := map[string]bool{}
			for _, d := range dead {
				if !seen[d.Destination] && d.Destination != "" {
					seen[d.Destination] = true
					fmt.Fprintf(stdout, "  %s\n", c.command("run", "--input", "/dev/null", "--destination", d.Destination))
				}
			}
			if note := c.passwordNote(); note != "" {
				fmt.Fprintln(stdout, note)
			}
		}
		return err
	case "dead-letter":
		if err := p.DeadLetterPending(ctx, *dest, *batch, *reason); err != nil {
			if errors.Is(err, bridge.ErrNoPendingBatch) {
				fmt.Fprintf(stderr, "bridge: %s; the batch ids are in the run's error, in bridge dlq list, and in what the destination saw (bridge.BatchID)\n", message(err))
				return errUsage
			}
			return err
		}
		fmt.Fprintf(stdout, "batch %s is set aside: destination %s will not be called with it; it is in the dead-letter stream:\n  %s\nbring it back with\n  %s\n",
			*batch, quoteName(*dest), c.command("dlq", "list", "--destination", *dest, "--batch", *batch),
			c.command("dlq", "replay", "--destination", *dest, "--batch", *batch))
		if note := c.passwordNote(); note != "" {
			fmt.Fprintln(stdout, note)
		}
		return nil
	default:
		if !*yes {
			dead, err := p.DeadLetters(ctx, f)
			if err != nil {
				return err
			}
			args := []string{"dlq", "purge"}
			for _, fl := range []struct{ name, val string }{{"--destination", *dest}, {"--table", *table}, {"--batch", *batch}} {
				if fl.val != "" {
					args = append(args, fl.name, fl.val)
				}
			}
			fmt.Fprintf(stderr, "bridge dlq purge: this deletes %s for good (see them with bridge dlq list); nothing was deleted. To delete, say --yes:\n  %s\n",
				pluralN(len(dead), "dead letter", "dead letters"), c.command(append(args, "--yes")...))
			if note := c.passwordNote(); note != "" {
				fmt.Fprintln(stderr, note)
			}
			return errUsage
		}
		n, err := p.PurgeDeadLetters(ctx, f)
		fmt.Fprintf(stdout, "purged %s\n", pluralN(n, "dead letter", "dead letters"))
		return err
	}
}

func deadLetterArgs(dest, batch, reason string) []string {
	args := []string{"dlq", "dead-letter", "--destination", dest, "--batch", batch}
	if reason != "" {
		args = append(args, "--reason", reason)
	}
	return append(args, "--yes")
}

// checkDestination fails with a usage error naming the destinations there
// are when name is not one: neither a member nor, if withDead, the
// destination of a dead letter.
func checkDestination(ctx context.Context, p *bridge.Pipeline, name string, withDead bool, stderr io.Writer) error {
	s, err := p.Status(ctx)
	if err != nil {
		return err
	}
	known := map[string]bool{}
	for _, d := range s.Destinations {
		known[d.Name] = true
	}
	if withDead {
		for d := range s.DeadLettersOf {
			if d != "" {
				known[d] = true
			}
		}
	}
	if known[name] {
		return nil
	}
	fmt.Fprintf(stderr, "bridge: pipeline %q has no destination %s (%s); see bridge destinations list\n", p.Name(), quoteName(name), destinationList(slices.Sorted(maps.Keys(known))))
	return errUsage
}

// destinationList says which destinations there are.
func destinationList(names []string) string {
	if len(names) == 0 {
		return "it has none"
	}
	return "destinations: " + joinQuoted(names)
}

func openAdmin(c common, stderr io.Writer) (*bridge.Pipeline, error) {
	opts, _, err := c.options(stderr)
	if err != nil {
		return nil, c.file.explain(err)
	}
	return bridge.Open(c.pipeline, opts...)
}

const dropAbout = `
Deletes everything the pipeline keeps in NATS: pending batches, dead letters,
large objects, the ledger and the state (schemas, load history, progress).
It cannot be undone; --yes confirms.

Examples:
  bridge drop --yes
  bridge drop --yes --pipeline events --nats-url nats://127.0.0.1:4222`

func cmdDrop(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("drop", "bridge drop --yes [options]", dropAbout, stdout, stderr)
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
	fmt.Fprintf(stdout, "dropped pipeline %q\n", c.pipeline)
	return nil
}

// latencyText shows a destination's produce-to-call latency: p50/p99 over
// its last calls (one word, so that scripts can split the row on spaces;
// status --json has the rest).
func latencyText(l state.Latency) string {
	if l.Calls == 0 {
		return "-"
	}
	round := func(d time.Duration) time.Duration {
		if d < time.Second {
			return d.Round(time.Millisecond)
		}
		return d.Round(100 * time.Millisecond)
	}
	return fmt.Sprintf("%v/%v", round(l.P50), round(l.P99))
}
