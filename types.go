// Package bridge pushes normalized data out of a pipeline: you write one
// function, and bridge calls it with every normalized batch of every table,
// carried through NATS JetStream and acknowledged only after your function
// succeeds. It is a Go take on dlt's custom destination (@dlt.destination).
//
//	dest := bridge.NewDestination("my_destination",
//	    func(ctx context.Context, items []bridge.Row, table bridge.Table) error {
//	        fmt.Println(table.Name, items)
//	        return nil
//	    },
//	    bridge.BatchSize(10))
//
//	p, err := bridge.NewPipeline("custom_destination_pipeline", dest) // embedded NATS by default
//	defer p.Close()
//	info, err := p.Run(ctx, []any{1, 2, 3}, bridge.TableName("items"))
//
// Delivery is at least once, a batch at a time: a batch whose call returns an
// error is retried with backoff, and a batch that spends its attempts stays
// pending in the queue and is loaded first by the next Run. Use BatchID as an
// idempotency key to make the far side exactly once.
package bridge

import "github.com/fanoutbridge/bridge/schema"

// Row is one normalized row: column name to value. Values have the Go type of
// their column's DataType (see DataType).
type Row = schema.Row

// Table is a table's schema as handed to a destination: Name, Parent (for
// child tables), ordered Columns and a lookup by name (Table.Column).
type Table = schema.Table

// Column is one column of a Table.
type Column = schema.Column

// DataType is a column's type. Values arrive as:
//
//	text       string
//	bigint     int64
//	double     float64
//	bool       bool
//	timestamp  time.Time (UTC)
//	date       bridge.Date
//	time       bridge.TimeOfDay
//	decimal    bridge.Decimal (exact, never through float64)
//	binary     []byte
//	json       map[string]any or []any
type DataType = schema.DataType

// The data types.
const (
	TypeText      = schema.TypeText
	TypeBigInt    = schema.TypeBigInt
	TypeDouble    = schema.TypeDouble
	TypeBool      = schema.TypeBool
	TypeTimestamp = schema.TypeTimestamp
	TypeDate      = schema.TypeDate
	TypeTime      = schema.TypeTime
	TypeDecimal   = schema.TypeDecimal
	TypeBinary    = schema.TypeBinary
	TypeJSON      = schema.TypeJSON
)

// Decimal is an exact decimal number (see ParseDecimal).
type Decimal = schema.Decimal

// Date is a calendar date.
type Date = schema.Date

// TimeOfDay is a wall-clock time without a date.
type TimeOfDay = schema.TimeOfDay

// ParseDecimal parses an exact decimal such as "12.50".
func ParseDecimal(s string) (Decimal, error) { return schema.ParseDecimal(s) }

// CloneRows returns deep copies of rows, every value boxed afresh: what a
// ReuseRows destination keeps of the rows it is given must be such a copy.
func CloneRows(rows []Row) []Row { return schema.CloneRows(rows) }
