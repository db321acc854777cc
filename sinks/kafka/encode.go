package kafka

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/fanoutbridge/bridge/sink"
)

// The headers of every message.
const (
	HeaderTable   = "bridge-table"
	HeaderBatchID = "bridge-batch-id"
	HeaderRow     = "bridge-row"
)

// keyColumns returns the columns that key the rows of t: the configured
// ones, else the primary-key columns of t's schema; none means no key.
func keyColumns(configured []string, t *sink.Table) []string {
	if len(configured) > 0 {
		return configured
	}
	var pk []string
	for _, c := range t.Columns {
		if c.PrimaryKey {
			pk = append(pk, c.Name)
		}
	}
	return pk
}

// messageKey returns the key of row: the text of its single key column, or
// a JSON array of the values of several; nil when every key column is
// empty (the message then has no key and is spread round-robin).
func messageKey(row sink.Row, cols []string) ([]byte, error) {
	if len(cols) == 0 {
		return nil, nil
	}
	if len(cols) == 1 {
		return keyText(row[cols[0]])
	}
	vals := make([]any, len(cols))
	empty := true
	for i, c := range cols {
		vals[i] = row[c]
		empty = empty && vals[i] == nil
	}
	if empty {
		return nil, nil
	}
	return json.Marshal(vals)
}

// keyText renders one key value as text: strings and bytes as they are,
// numbers, booleans and timestamps as they print in JSON, without quotes.
func keyText(v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string:
		return []byte(x), nil
	case []byte:
		return x, nil
	case int64:
		return strconv.AppendInt(nil, x, 10), nil
	case bool:
		return strconv.AppendBool(nil, x), nil
	case time.Time:
		return x.AppendFormat(nil, time.RFC3339Nano), nil
	case fmt.Stringer: // Decimal, Date, TimeOfDay
		return []byte(x.String()), nil
	default:
		return json.Marshal(x)
	}
}

// value renders a row as the JSON object the stdout destination prints as
// "item": timestamps RFC 3339 with nanoseconds, decimals, dates and times of
// day as strings, binary as base64, JSON columns as JSON.
func value(row sink.Row) ([]byte, error) {
	return json.Marshal(row)
}

// estimateSize returns an upper bound of the size kafka-go gives msg when it
// checks it against BatchBytes (its own is unexported): a message above
// BatchBytes fails the whole WriteMessages call, so it is caught before.
func estimateSize(m *kafkago.Message) int64 {
	n := int64(4+1+1+4+len(m.Key)+4+len(m.Value)+8) + 5
	for _, h := range m.Headers {
		n += int64(5 + len(h.Key) + 5 + len(h.Value))
	}
	return n
}

// rowHeaders returns the headers of row i of a batch.
func rowHeaders(table, batchID []byte, i int) []kafkago.Header {
	return []kafkago.Header{
		{Key: HeaderTable, Value: table},
		{Key: HeaderBatchID, Value: batchID},
		{Key: HeaderRow, Value: strconv.AppendInt(nil, int64(i), 10)},
	}
}
