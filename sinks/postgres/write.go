package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"github.com/fanoutbridge/bridge/schema"
	"github.com/fanoutbridge/bridge/sink"
)

// stageTable is the temporary table an upsert copies into (one per
// transaction, dropped at commit).
const stageTable = "_bridge_stage"

// ordColumn numbers the staged rows, so that of several rows with one key
// in a batch the last wins.
const ordColumn = "__bridge_row_ord"

// Write loads the batch into its table: the table gets any column it
// lacks, then one transaction records the batch id and copies the rows. A
// batch id recorded before means the batch was loaded: nothing is done.
func (s *Sink) Write(ctx context.Context, b sink.Batch) error {
	if len(b.Rows) == 0 {
		return nil
	}
	pool, dest, err := s.conn()
	if err != nil {
		return err
	}
	name := s.cfg.TablePrefix + b.Table.Name
	var pk []string
	if s.cfg.Upsert {
		if pk, err = s.primaryKey(&b.Table); err != nil {
			return sink.Terminal(fmt.Errorf("postgres: table %s: %w", name, err))
		}
	}
	for try := 0; ; try++ {
		err = s.write(ctx, pool, dest, name, b, pk)
		// A table or column dropped behind the cache's back: look again.
		if err != nil && try == 0 && hasCode(err, "42P01", "42703") {
			s.forget(name)
			continue
		}
		break
	}
	if err != nil {
		return classify(fmt.Errorf("postgres: load batch %s into %s: %w", b.ID, name, err))
	}
	return nil
}

// primaryKey is the table's key columns, or the configured ones.
func (s *Sink) primaryKey(t *schema.Table) ([]string, error) {
	var pk []string
	for _, c := range t.Columns {
		if c.PrimaryKey {
			pk = append(pk, c.Name)
		}
	}
	if len(pk) > 0 {
		return pk, nil
	}
	if len(s.cfg.PrimaryKey) == 0 {
		return nil, errors.New("upsert needs a primary key: the table marks none; set postgres_primary_key")
	}
	for _, c := range s.cfg.PrimaryKey {
		if t.ColumnIndex(c) < 0 {
			return nil, fmt.Errorf("upsert: primary key column %q is not in the table", c)
		}
	}
	return s.cfg.PrimaryKey, nil
}

func (s *Sink) write(ctx context.Context, pool *pgxpool.Pool, dest, name string, b sink.Batch, pk []string) error {
	if err := s.ensureTable(ctx, pool, name, &b.Table, pk); err != nil {
		return err
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() {
		// A no-op after Commit; bounded, as the connection may be gone.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = tx.Rollback(rctx)
	}()
	if b.ID != "" {
		tag, err := tx.Exec(ctx, "INSERT INTO "+s.bookkeeping()+
			" (destination, batch_id, table_name, rows, loaded_at) VALUES ($1, $2, $3, $4, now()) ON CONFLICT (destination, batch_id) DO NOTHING",
			dest, b.ID, name, len(b.Rows))
		if err != nil {
			return fmt.Errorf("record the batch in %s: %w", s.cfg.BookkeepingTable, err)
		}
		if tag.RowsAffected() == 0 {
			s.log.Info("postgres: batch loaded before, skipped", zap.String("batch", b.ID), zap.String("table", name))
			return nil
		}
	}
	cols := make([]string, len(b.Table.Columns))
	for i, c := range b.Table.Columns {
		cols[i] = c.Name
	}
	target := pgx.Identifier{s.schema, name}
	if pk == nil {
		if err := copyRows(ctx, tx, target, cols, b.Rows, false); err != nil {
			return err
		}
	} else if err := upsert(ctx, tx, target, cols, pk, b.Rows); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// copyRows copies rows into table with COPY; with ord, each row also gets
// its index in ordColumn.
func copyRows(ctx context.Context, tx pgx.Tx, table pgx.Identifier, cols []string, rows []schema.Row, ord bool) error {
	n := len(cols)
	names := cols
	if ord {
		names = append(cols[:n:n], ordColumn)
	}
	buf := make([]any, len(names))
	i := -1
	var convErr error
	_, err := tx.CopyFrom(ctx, table, names, pgx.CopyFromFunc(func() ([]any, error) {
		i++
		if i == len(rows) {
			return nil, nil
		}
		for j, c := range cols {
			v, err := value(rows[i][c])
			if err != nil {
				convErr = fmt.Errorf("row %d, column %s: %w", i, c, err)
				return nil, convErr
			}
			buf[j] = v
		}
		if ord {
			buf[n] = int64(i)
		}
		return buf, nil
	}))
	if convErr != nil {
		return sink.Terminal(convErr)
	}
	// pgx could not encode a value for the column's type (an existing
	// column of another type): it ends the COPY with the reason, which the
	// server answers as a cancel.
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "57014" && strings.HasPrefix(pe.Message, "COPY from stdin failed") && ctx.Err() == nil {
		return sink.Terminal(err)
	}
	return err
}

// upsert copies rows into a temporary table, then merges them into target
// on the key: a key already there gets the row's values, the last row of a
// key in the batch winning.
func upsert(ctx context.Context, tx pgx.Tx, target pgx.Identifier, cols, pk []string, rows []schema.Row) error {
	stage := pgx.Identifier{"pg_temp", stageTable}
	colList := identList(cols)
	if _, err := tx.Exec(ctx, "CREATE TEMP TABLE "+pgx.Identifier{stageTable}.Sanitize()+" ON COMMIT DROP AS SELECT "+
		colList+", 0::bigint AS "+pgx.Identifier{ordColumn}.Sanitize()+" FROM "+target.Sanitize()+" WITH NO DATA"); err != nil {
		return fmt.Errorf("create the staging table: %w", err)
	}
	if err := copyRows(ctx, tx, stage, cols, rows, true); err != nil {
		return err
	}
	keys := identList(pk)
	var set []string
	for _, c := range cols {
		if !containsName(pk, c) {
			q := pgx.Identifier{c}.Sanitize()
			set = append(set, q+" = EXCLUDED."+q)
		}
	}
	action := "DO NOTHING"
	if len(set) > 0 {
		action = "DO UPDATE SET " + strings.Join(set, ", ")
	}
	q := "INSERT INTO " + target.Sanitize() + " (" + colList + ") SELECT DISTINCT ON (" + keys + ") " + colList +
		" FROM " + stage.Sanitize() + " ORDER BY " + keys + ", " + pgx.Identifier{ordColumn}.Sanitize() + " DESC" +
		" ON CONFLICT (" + keys + ") " + action
	if _, err := tx.Exec(ctx, q); err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	return nil
}

func containsName(names []string, n string) bool {
	for _, x := range names {
		if x == n {
			return true
		}
	}
	return false
}

// classify marks the errors retrying cannot fix as terminal: bad data
// (class 22), constraint violations (23), undefined objects, permissions
// and other statement errors (42), invalid names (3F, schema). Connection
// errors, serialization failures and deadlocks (40), lack of resources
// (53) and server shutdowns (57) stay transient, as does anything else.
func classify(err error) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err
	}
	switch pe.Code[:2] {
	case "22", "23", "42", "3F", "0A":
		if pe.Where != "" {
			err = fmt.Errorf("%w (%s)", err, pe.Where)
		}
		return sink.Terminal(err)
	}
	return err
}

func hasCode(err error, codes ...string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && containsName(codes, pe.Code)
}
