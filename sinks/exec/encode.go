package exec

import (
	"strconv"

	"github.com/fanoutbridge/bridge/batcher"
	"github.com/fanoutbridge/bridge/internal/jsonv"
	"github.com/fanoutbridge/bridge/schema"
)

// appendBatch appends what the program reads for one batch: the header line,
// then one line per row, written as the rows of a typed JSON-lines batch
// (batcher.AppendRows). Every line ends in '\n'; JSON escapes every control
// character, so a value never breaks a line.
func appendBatch(dst []byte, table *schema.Table, batchID string, rows []schema.Row) ([]byte, error) {
	dst = appendHeader(dst, table, batchID, len(rows))
	return batcher.AppendRows(dst, table, rows)
}

// appendHeader writes the fields in a fixed order (batch, table, parent,
// rows, columns) that the protocol promises, so a program may pick them out
// without a JSON parser.
func appendHeader(dst []byte, table *schema.Table, batchID string, n int) []byte {
	dst = append(dst, `{"batch":`...)
	dst = jsonv.AppendString(dst, batchID)
	dst = append(dst, `,"table":`...)
	dst = jsonv.AppendString(dst, table.Name)
	if table.Parent != "" {
		dst = append(dst, `,"parent":`...)
		dst = jsonv.AppendString(dst, table.Parent)
	}
	dst = append(dst, `,"rows":`...)
	dst = strconv.AppendInt(dst, int64(n), 10)
	dst = append(dst, `,"columns":[`...)
	for i, c := range table.Columns {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"name":`...)
		dst = jsonv.AppendString(dst, c.Name)
		dst = append(dst, `,"data_type":`...)
		dst = jsonv.AppendString(dst, string(c.DataType))
		dst = append(dst, `,"nullable":`...)
		dst = strconv.AppendBool(dst, c.Nullable)
		if c.PrimaryKey {
			dst = append(dst, `,"primary_key":true`...)
		}
		if c.Variant {
			dst = append(dst, `,"variant_of":`...)
			dst = jsonv.AppendString(dst, c.Of)
		}
		if c.System {
			dst = append(dst, `,"system":true`...)
		}
		dst = append(dst, '}')
	}
	return append(dst, "]}\n"...)
}
