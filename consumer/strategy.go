package consumer

import "fmt"

// Strategy says which batches may be in the destination at once.
type Strategy int

const (
	// Parallel runs any batches at once, up to the parallelism limit.
	Parallel Strategy = iota
	// TableSequential runs at most one batch per table at a time, tables in
	// parallel; order within a table is kept.
	TableSequential
	// Sequential runs one batch at a time.
	Sequential
)

func (s Strategy) String() string {
	switch s {
	case Parallel:
		return "parallel"
	case TableSequential:
		return "table-sequential"
	case Sequential:
		return "sequential"
	}
	return fmt.Sprintf("Strategy(%d)", int(s))
}

// ParseStrategy parses the names String returns.
func ParseStrategy(s string) (Strategy, error) {
	for _, v := range []Strategy{Parallel, TableSequential, Sequential} {
		if v.String() == s {
			return v, nil
		}
	}
	return 0, fmt.Errorf("unknown parallelism strategy %q (want parallel, table-sequential or sequential)", s)
}
