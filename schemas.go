package bridge

import (
	"context"
	"fmt"
)

// Schema returns the pipeline's stored schema: its tables (parents before
// their child tables, each with its columns in order: data type, nullable,
// variant and system flags) and its version, which grows by one with each
// change. A pipeline that has loaded nothing yet has none: no table,
// version 0. Producers save the schema as they go; Schema reads the last
// one saved.
func (p *Pipeline) Schema(ctx context.Context) ([]Table, int, error) {
	sc, err := p.st.Schema(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("pipeline %q: schema: %w", p.name, err)
	}
	tables := make([]Table, 0, len(sc.Tables))
	for _, t := range sc.Tables {
		if t == nil {
			continue
		}
		// Keys is the normalizer's own record, not part of the schema
		// destinations see.
		tables = append(tables, Table{Name: t.Name, Parent: t.Parent, Columns: t.Columns})
	}
	return tables, sc.Version, nil
}
