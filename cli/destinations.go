package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"

	"github.com/fanoutbridge/bridge"
)

const destinationsAbout = `
A pipeline's destinations are its members: each has its own place in the
stream, its own progress and its own dead letters, and receives every load
published while it is a member, whichever process serves it. A destination
becomes a member the first time it runs on the pipeline.

  list                show the members: pending and in-flight batches, batch
                      size, format and strategy they last ran with
  remove NAME --yes   remove a member: the stream stops keeping batches for it
                      (those only it still needed are deleted); its dead
                      letters stay until purged. Without --yes it says what
                      removing it would drop.

Examples:
  bridge destinations list --pipeline events
  bridge destinations remove 'file:/tmp/out' --pipeline events
  bridge destinations remove 'file:/tmp/out' --yes --pipeline events`

func cmdDestinations(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("destinations", "bridge destinations list|remove NAME [--yes] [options]", destinationsAbout, stdout, stderr)
	var c common
	c.register(fs)
	yes := fs.Bool("yes", false, "really remove")
	if len(args) == 0 || (args[0] != "list" && args[0] != "remove") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fs.help()
			return nil
		}
		fmt.Fprintln(stderr, "bridge destinations: say list or remove NAME; see bridge destinations --help")
		return errUsage
	}
	verb, rest := args[0], args[1:]
	name := ""
	if verb == "remove" {
		if len(rest) == 0 || rest[0] == "" || rest[0][0] == '-' {
			fmt.Fprintln(stderr, "bridge destinations remove: name the destination (see bridge destinations list)")
			return errUsage
		}
		name, rest = rest[0], rest[1:]
	}
	if help, err := parseFlags(fs, rest); help || err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "bridge destinations: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	p, err := openAdmin(c, stderr)
	if err != nil {
		return err
	}
	defer p.Close()
	members, err := p.Destinations(ctx)
	if err != nil {
		return err
	}
	if verb == "remove" {
		return removeDestination(ctx, p, c, name, *yes, members, stdout, stderr)
	}
	w := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(w, "DESTINATION\tPENDING\tIN FLIGHT\tBATCH ROWS\tMODE\tFORMAT\tSTRATEGY")
	for _, m := range members {
		mode := "rows"
		if m.FileMode {
			mode = "files"
		}
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%s\t%s\t%s\n", m.Name, m.Pending, m.InFlight, m.BatchRows, mode, m.Format, m.Strategy)
	}
	fmt.Fprintln(w, pluralN(len(members), "destination", "destinations"))
	return w.Flush()
}

// removeDestination removes name with --yes; without, it says what removing
// it drops and how to confirm. A name that is no member is a usage error
// that names the members.
func removeDestination(ctx context.Context, p *bridge.Pipeline, c common, name string, yes bool, members []bridge.Member,
	stdout, stderr io.Writer) error {
	names := make([]string, len(members))
	for i, m := range members {
		names[i] = m.Name
	}
	if !slices.Contains(names, name) {
		fmt.Fprintf(stderr, "bridge destinations remove: pipeline %q has no destination %s (%s)\n", c.pipeline, quoteName(name), destinationList(names))
		return errUsage
	}
	if !yes {
		b, err := p.Backlog(ctx, name)
		if err != nil {
			return err
		}
		what := "it holds no batch: nothing is dropped"
		if b.Batches > 0 {
			what = fmt.Sprintf("it still holds %s (up to %s) not delivered to it, which removing it drops for it",
				pluralN(b.Batches, "batch", "batches"), pluralN(b.Rows, "row", "rows"))
		}
		fmt.Fprintf(stderr, "bridge destinations remove: destination %s of pipeline %q: %s; its dead letters stay. To remove it, say --yes:\n  %s\n",
			quoteName(name), c.pipeline, what, c.command("destinations", "remove", name, "--yes"))
		if note := c.passwordNote(); note != "" {
			fmt.Fprintln(stderr, note)
		}
		return errUsage
	}
	if err := p.RemoveDestination(ctx, name); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "removed destination %s from pipeline %q\n", quoteName(name), c.pipeline)
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
