package postgres

import (
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/fanoutbridge/bridge/schema"
)

// value converts a row value to what pgx encodes for the column's
// PostgreSQL type. Values of the other Go types pass as they are (pgx
// encodes string, int64, float64, bool, time.Time, []byte and JSON values
// itself).
func value(v any) (any, error) {
	switch v := v.(type) {
	case nil, string, int64, float64, bool, []byte, map[string]any, []any:
		return v, nil
	case time.Time:
		return v, nil
	case schema.Date:
		return pgtype.Date{Time: time.Date(v.Year, v.Month, v.Day, 0, 0, 0, 0, time.UTC), Valid: true}, nil
	case schema.TimeOfDay:
		// PostgreSQL keeps microseconds: finer digits are cut.
		return pgtype.Time{Microseconds: v.Nanos() / 1000, Valid: true}, nil
	case schema.Decimal:
		var n pgtype.Numeric
		if err := n.Scan(v.String()); err != nil {
			return nil, fmt.Errorf("decimal %s: %w", v, err)
		}
		return n, nil
	}
	return nil, fmt.Errorf("value of Go type %T has no PostgreSQL mapping", v)
}
