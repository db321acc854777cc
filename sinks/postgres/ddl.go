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

	"github.com/fanoutbridge/bridge/schema"
)

// pgType is the PostgreSQL type of each bridge data type.
var pgType = map[schema.DataType]string{
	schema.TypeText:      "text",
	schema.TypeBigInt:    "bigint",
	schema.TypeDouble:    "double precision",
	schema.TypeBool:      "boolean",
	schema.TypeTimestamp: "timestamptz",
	schema.TypeDate:      "date",
	schema.TypeTime:      "time",
	schema.TypeDecimal:   "numeric",
	schema.TypeBinary:    "bytea",
	schema.TypeJSON:      "jsonb",
}

// DDL races between workers creating the same table, column or schema:
// PostgreSQL's IF NOT EXISTS checks and then creates, so two at once can
// still collide on the catalog.
const (
	codeDuplicateTable  = "42P07"
	codeDuplicateColumn = "42701"
	codeDuplicateSchema = "42P06"
	codeDuplicateObject = "42710" // the table's row type
	codeUniqueViolation = "23505" // on pg_type / pg_namespace / pg_attribute
)

func isDDLRace(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Code {
	case codeDuplicateTable, codeDuplicateColumn, codeDuplicateSchema, codeDuplicateObject, codeUniqueViolation:
		return true
	}
	return false
}

// ddlTimeout bounds a DDL statement, which waits for the lock of a table
// that long transactions (other loads, a user's query) hold: the batch is
// then tried again later.
const ddlTimeout = time.Minute

// ddl runs an idempotent statement, again after a race with another
// worker (which leaves the object there).
func ddl(ctx context.Context, pool *pgxpool.Pool, q string) error {
	ctx, cancel := context.WithTimeout(ctx, ddlTimeout)
	defer cancel()
	var err error
	for try := range 5 {
		if _, err = pool.Exec(ctx, q); err == nil || !isDDLRace(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(10*(try+1)) * time.Millisecond):
		}
	}
	return err
}

// ensureTable makes the target table have every column of t: it creates
// the table on first sight and adds the columns it lacks. Known columns are
// cached, so a batch of a known shape costs nothing.
func (s *Sink) ensureTable(ctx context.Context, pool *pgxpool.Pool, name string, t *schema.Table, pk []string) error {
	s.mu.Lock()
	known := s.cols[name]
	missing := missingColumns(known, t)
	s.mu.Unlock()
	if known != nil && len(missing) == 0 {
		return nil
	}
	if known == nil {
		cols, err := s.loadColumns(ctx, pool, name)
		if err != nil {
			return err
		}
		if len(cols) == 0 {
			if err := ddl(ctx, pool, createTable(s.schema, name, t, pk)); err != nil {
				return fmt.Errorf("create table %s: %w", name, err)
			}
			s.log.Debug("postgres: created table")
			if cols, err = s.loadColumns(ctx, pool, name); err != nil {
				return err
			}
		}
		known = cols
		missing = missingColumns(known, t)
	}
	if len(missing) > 0 {
		if err := ddl(ctx, pool, addColumns(s.schema, name, missing)); err != nil {
			return fmt.Errorf("add columns to %s: %w", name, err)
		}
		next := make(map[string]bool, len(known)+len(missing))
		for c := range known {
			next[c] = true
		}
		for _, c := range missing {
			next[c.Name] = true
		}
		known = next
	}
	s.mu.Lock()
	s.cols[name] = known
	s.mu.Unlock()
	return nil
}

// forget drops a table from the cache (after it was found missing).
func (s *Sink) forget(name string) {
	s.mu.Lock()
	delete(s.cols, name)
	s.mu.Unlock()
}

func missingColumns(known map[string]bool, t *schema.Table) []schema.Column {
	var out []schema.Column
	for _, c := range t.Columns {
		if !known[pgName(c.Name)] {
			out = append(out, c)
		}
	}
	return out
}

// pgName is the name PostgreSQL keeps for an identifier: NUL bytes removed
// (as pgx.Identifier.Sanitize does) and cut to 63 bytes.
func pgName(s string) string {
	s = strings.ReplaceAll(s, "\x00", "")
	if len(s) <= 63 {
		return s
	}
	// PostgreSQL cuts at a character boundary.
	n := 63
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// loadColumns returns the columns of a table; none if it does not exist.
func (s *Sink) loadColumns(ctx context.Context, pool *pgxpool.Pool, name string) (map[string]bool, error) {
	rows, err := pool.Query(ctx, `SELECT a.attname FROM pg_catalog.pg_attribute a
		JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
		JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped`, s.schema, pgName(name))
	if err != nil {
		return nil, fmt.Errorf("read the columns of %s: %w", name, err)
	}
	cols, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("read the columns of %s: %w", name, err)
	}
	out := make(map[string]bool, len(cols))
	for _, c := range cols {
		out[c] = true
	}
	return out, nil
}

func createTable(schemaName, name string, t *schema.Table, pk []string) string {
	var b strings.Builder
	b.WriteString("CREATE TABLE IF NOT EXISTS ")
	b.WriteString(pgx.Identifier{schemaName, name}.Sanitize())
	b.WriteString(" (")
	for i, c := range t.Columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(pgx.Identifier{c.Name}.Sanitize())
		b.WriteByte(' ')
		b.WriteString(pgType[c.DataType])
	}
	if len(pk) > 0 {
		b.WriteString(", PRIMARY KEY (")
		b.WriteString(identList(pk))
		b.WriteByte(')')
	}
	b.WriteByte(')')
	return b.String()
}

func addColumns(schemaName, name string, cols []schema.Column) string {
	var b strings.Builder
	b.WriteString("ALTER TABLE ")
	b.WriteString(pgx.Identifier{schemaName, name}.Sanitize())
	for i, c := range cols {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(" ADD COLUMN IF NOT EXISTS ")
		b.WriteString(pgx.Identifier{c.Name}.Sanitize())
		b.WriteByte(' ')
		b.WriteString(pgType[c.DataType])
	}
	return b.String()
}

// identList quotes names and joins them with commas.
func identList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = pgx.Identifier{n}.Sanitize()
	}
	return strings.Join(q, ", ")
}
