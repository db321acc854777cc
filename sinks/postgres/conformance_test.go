package postgres_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/fanoutbridge/bridge/sinks/postgres"
	"github.com/fanoutbridge/bridge/sinktest"
)

// The sink passes bridge's conformance suite, exactly once: a batch
// written again after a lost ack is found in the bookkeeping table and
// skipped. A table keeps no order, and no batch id per row.
func TestConformance(t *testing.T) {
	sinktest.Run(t, sinktest.Harness{
		ExactlyOnce: true,
		Unordered:   true,
		New: func(t *testing.T) sinktest.Target {
			d := newDB(t)
			s, err := postgres.New(d.config(), nil)
			if err != nil {
				t.Fatal(err)
			}
			return sinktest.Target{Sink: s, Read: func(ctx context.Context, table string) ([]sinktest.Got, error) {
				var got []sinktest.Got
				rows, err := d.pool.Query(ctx, "SELECT id FROM "+d.ident(table)+" ORDER BY id")
				if err == nil {
					got, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (sinktest.Got, error) {
						var g sinktest.Got
						return g, r.Scan(&g.ID)
					})
				}
				var pe *pgconn.PgError
				if errors.As(err, &pe) && pe.Code == "42P01" {
					return nil, nil // no row ever came for the table
				}
				return got, err
			}}
		},
	})
}
