package cli

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
)

const destinationsAbout = `
A pipeline's destinations are its members: each has its own place in the
stream, its own progress and its own dead letters, and receives every load
published while it is a member, whichever process serves it. A destination
becomes a member the first time it runs on the pipeline.

  list            show the members: pending and in-flight batches, batch size,
                  format and strategy they last ran with
  remove NAME     remove a member: the stream stops keeping batches for it
                  (those only it still needed are deleted); its dead letters
                  stay until purged. Say --yes.

Examples:
  bridge destinations list --pipeline events
  bridge destinations remove 'file:/tmp/out' --yes --pipeline events`

func cmdDestinations(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("destinations", "bridge destinations list|remove NAME [options]", destinationsAbout, stderr)
	var c common
	c.register(fs)
	yes := fs.Bool("yes", false, "really remove")
	if len(args) == 0 || (args[0] != "list" && args[0] != "remove") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fs.Usage()
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
	if verb == "remove" && !*yes {
		fmt.Fprintf(stderr, "bridge destinations remove: this deletes what pipeline %q keeps for %q; say --yes\n", c.pipeline, name)
		return errUsage
	}
	p, err := openAdmin(c, stderr)
	if err != nil {
		return err
	}
	defer p.Close()
	if verb == "remove" {
		if err := p.RemoveDestination(ctx, name); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "removed destination %s from pipeline %s\n", name, c.pipeline)
		return nil
	}
	members, err := p.Destinations(ctx)
	if err != nil {
		return err
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
	fmt.Fprintf(w, "%d %s\n", len(members), plural(len(members), "destination", "destinations"))
	return w.Flush()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
