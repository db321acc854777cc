package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

const schemaAbout = `
Shows the pipeline's schema as the producers inferred it: every table (child
tables of nested lists name their parent), its columns in order with their
data types, whether they are nullable, variant columns (<col>__v_<type>,
holding values of <col> that did not fit its type) and bridge's system
columns (_dlt_*), and the schema version (it grows by one with each change).

--json prints it as one JSON object:
  {"pipeline": ..., "version": N, "tables": [{"name": ..., "parent": ...,
   "columns": [{"name", "data_type", "nullable", "primary_key", "variant",
   "variant_of", "system"}]}]}

Examples:
  bridge schema show
  bridge schema show --pipeline events --table events__items
  bridge schema show --json | jq '.tables[].name'`

// schemaJSON is schema show --json.
type schemaJSON struct {
	Pipeline string            `json:"pipeline"`
	Version  int               `json:"version"`
	Tables   []schemaTableJSON `json:"tables"`
}

type schemaTableJSON struct {
	Name    string             `json:"name"`
	Parent  string             `json:"parent,omitempty"`
	Columns []schemaColumnJSON `json:"columns"`
}

type schemaColumnJSON struct {
	Name       string `json:"name"`
	DataType   string `json:"data_type"`
	Nullable   bool   `json:"nullable"`
	PrimaryKey bool   `json:"primary_key"`
	Variant    bool   `json:"variant"`
	VariantOf  string `json:"variant_of,omitempty"`
	System     bool   `json:"system"`
}

func cmdSchema(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("schema", "bridge schema show [--json] [--table NAME] [options]", schemaAbout, stdout, stderr)
	var c common
	c.register(fs)
	asJSON := fs.Bool("json", false, "print the schema as JSON")
	table := fs.String("table", "", "only this `table`")
	if len(args) > 0 && isHelp(args[0]) {
		fs.help()
		return nil
	}
	if len(args) == 0 || args[0] != "show" {
		return usagef("say show; see bridge schema --help")
	}
	if help, err := parseFlags(fs, args[1:]); help || err != nil {
		return err
	}
	if err := noArgs(fs.FlagSet, "schema", stderr); err != nil {
		return err
	}
	p, err := openAdmin(c, stderr)
	if err != nil {
		return err
	}
	defer p.Close()
	tables, version, err := p.Schema(ctx)
	if err != nil {
		return err
	}
	out := schemaJSON{Pipeline: p.Name(), Version: version, Tables: []schemaTableJSON{}}
	for _, t := range tables {
		if *table != "" && t.Name != *table {
			continue
		}
		tj := schemaTableJSON{Name: t.Name, Parent: t.Parent, Columns: []schemaColumnJSON{}}
		for _, col := range t.Columns {
			tj.Columns = append(tj.Columns, schemaColumnJSON{Name: col.Name, DataType: string(col.DataType), Nullable: col.Nullable,
				PrimaryKey: col.PrimaryKey, Variant: col.Variant, VariantOf: col.Of, System: col.System})
		}
		out.Tables = append(out.Tables, tj)
	}
	if *table != "" && len(out.Tables) == 0 {
		names := make([]string, len(tables))
		for i, t := range tables {
			names[i] = t.Name
		}
		return usagef("--table %q: pipeline %q has no such table (tables: %s)", *table, p.Name(), joinQuoted(names))
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	fmt.Fprintf(stdout, "pipeline %s: schema version %d, %s\n", p.Name(), version, pluralN(len(out.Tables), "table", "tables"))
	for _, t := range out.Tables {
		fmt.Fprintf(stdout, "\ntable %s", quoteName(t.Name))
		if t.Parent != "" {
			fmt.Fprintf(stdout, " (child of %s)", quoteName(t.Parent))
		}
		fmt.Fprintf(stdout, ", %s\n", pluralN(len(t.Columns), "column", "columns"))
		w := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(w, "  COLUMN\tTYPE\tNULLABLE\tNOTES")
		for _, col := range t.Columns {
			var notes []string
			if col.PrimaryKey {
				notes = append(notes, "primary key")
			}
			if col.Variant {
				notes = append(notes, "variant of "+col.VariantOf)
			}
			if col.System {
				notes = append(notes, "system")
			}
			fmt.Fprintf(w, "  %s\t%s\t%s\t%s\n", col.Name, col.DataType, yesNo(col.Nullable), strings.Join(notes, ", "))
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func isHelp(arg string) bool { return arg == "-h" || arg == "--help" || arg == "-help" }
