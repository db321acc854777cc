package batcher

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/fanoutbridge/bridge/internal/jsonv"
	"github.com/fanoutbridge/bridge/schema"
)

// parquetOpen checks a payload's frame, opens it and reads its table.
func parquetOpen(payload []byte) (*parquet.File, *schema.Table, error) {
	if err := parquetCheckFrame(payload); err != nil {
		return nil, nil, err
	}
	f, err := parquet.OpenFile(bytes.NewReader(payload), int64(len(payload)),
		parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: parquet: %w", ErrFormat, err)
	}
	if err := parquetCheckChunks(f, payload); err != nil {
		return nil, nil, err
	}
	t, err := parquetTableOf(f)
	if err != nil {
		return nil, nil, err
	}
	return f, t, nil
}

// decodeParquetTable restores only the table of a payload.
func decodeParquetTable(payload []byte) (t *schema.Table, err error) {
	defer func() {
		if r := recover(); r != nil {
			t, err = nil, fmt.Errorf("%w: parquet: %v", ErrFormat, r)
		}
	}()
	_, t, err = parquetOpen(payload)
	return t, err
}

// decodeParquet restores the table and rows of a payload made by
// encodeParquet.
func decodeParquet(payload []byte) (t *schema.Table, rows []schema.Row, err error) {
	return decodeParquetInto(payload, nil)
}

// decodeParquetInto is decodeParquet; with rd, it reuses the row maps and
// value boxes of rd's last decode (see RowDecoder).
func decodeParquetInto(payload []byte, rd *RowDecoder) (t *schema.Table, rows []schema.Row, err error) {
	var old []schema.Row
	var box *jsonv.Boxer
	if rd != nil {
		old, box = rd.rows, &rd.box
		rd.rows = nil // until this decode succeeds
		defer func() {
			if err == nil {
				// Keep every map for the next decode, those past this
				// one's rows included.
				rd.rows = rows
				if len(old) > len(rows) {
					rd.rows = append(rows, old[len(rows):]...)
				}
			}
		}()
	}
	defer func() {
		if r := recover(); r != nil {
			t, rows, err = nil, nil, fmt.Errorf("%w: parquet: %v", ErrFormat, r)
		}
	}()
	f, t, err := parquetOpen(payload)
	if err != nil {
		return nil, nil, err
	}
	numRows, err := parquetNumRows(f, t)
	if err != nil {
		return nil, nil, err
	}
	rows = make([]schema.Row, 0, max(numRows, len(old)))
	newRow := func(i int) schema.Row {
		if i < len(old) {
			clear(old[i])
			return old[i]
		}
		return make(schema.Row, len(t.Columns))
	}
	if len(t.Columns) == 0 {
		for i := range numRows {
			rows = append(rows, newRow(i))
		}
		return t, rows, nil
	}
	leaves := f.Root().Columns()
	decs := make([]parquetDecoder, len(t.Columns))
	for j, c := range t.Columns {
		if decs[j], err = parquetDecoderFor(c, leaves[j], box); err != nil {
			return nil, nil, err
		}
	}
	buf := make([]parquet.Value, parquetChunkRows)
	base := 0
	for _, rg := range f.RowGroups() {
		chunks := rg.ColumnChunks()
		if len(chunks) != len(t.Columns) {
			return nil, nil, fmt.Errorf("%w: parquet: row group has %d columns, table %d", ErrFormat, len(chunks), len(t.Columns))
		}
		for j, c := range t.Columns {
			n, err := parquetReadColumn(chunks[j], buf, func(k int, v parquet.Value) error {
				i := base + k
				if j == 0 {
					if i != len(rows) || i >= numRows {
						return fmt.Errorf("%w: parquet: more rows than the %d announced", ErrFormat, numRows)
					}
					rows = append(rows, newRow(i))
				} else if i >= len(rows) {
					return fmt.Errorf("%w: parquet: column %q has more values than rows", ErrFormat, c.Name)
				}
				if v.IsNull() {
					return nil
				}
				x, err := decs[j](v)
				if err != nil {
					return fmt.Errorf("%w: parquet: column %q: %w", ErrFormat, c.Name, err)
				}
				rows[i][c.Name] = x
				return nil
			})
			if err != nil {
				return nil, nil, err
			}
			if base+n != len(rows) {
				return nil, nil, fmt.Errorf("%w: parquet: column %q has %d values, want %d", ErrFormat, c.Name, n, len(rows)-base)
			}
		}
		base = len(rows)
	}
	if len(rows) != numRows {
		return nil, nil, fmt.Errorf("%w: parquet: %d rows, want %d", ErrFormat, len(rows), numRows)
	}
	return t, rows, nil
}

// parquetTableOf returns the table stored in the metadata of f, checked
// against the file's schema.
func parquetTableOf(f *parquet.File) (*schema.Table, error) {
	meta, ok := f.Lookup(parquetTableKey)
	if !ok {
		return nil, fmt.Errorf("%w: parquet: no %q metadata", ErrFormat, parquetTableKey)
	}
	t := new(schema.Table)
	if err := json.Unmarshal([]byte(meta), t); err != nil {
		return nil, fmt.Errorf("%w: parquet: %s metadata: %w", ErrFormat, parquetTableKey, err)
	}
	seen := make(map[string]bool, len(t.Columns))
	for _, c := range t.Columns {
		if !c.DataType.Valid() {
			return nil, fmt.Errorf("%w: parquet: column %q: unknown data type %q", ErrFormat, c.Name, c.DataType)
		}
		if seen[c.Name] {
			return nil, fmt.Errorf("%w: parquet: duplicate column %q", ErrFormat, c.Name)
		}
		seen[c.Name] = true
	}
	if n := len(f.Root().Columns()); n != len(t.Columns) {
		return nil, fmt.Errorf("%w: parquet: file has %d columns, table %d", ErrFormat, n, len(t.Columns))
	}
	return t, nil
}

// parquetNumRows returns the number of rows of the payload.
func parquetNumRows(f *parquet.File, t *schema.Table) (int, error) {
	s, ok := f.Lookup(parquetRowsKey)
	if !ok {
		return 0, fmt.Errorf("%w: parquet: no %q metadata", ErrFormat, parquetRowsKey)
	}
	n, err := strconv.Atoi(s)
	switch {
	case err != nil || n < 0:
		return 0, fmt.Errorf("%w: parquet: bad %s metadata %q", ErrFormat, parquetRowsKey, s)
	case len(t.Columns) > 0 && int64(n) != f.NumRows():
		return 0, fmt.Errorf("%w: parquet: %s says %d rows, file %d", ErrFormat, parquetRowsKey, n, f.NumRows())
	case len(t.Columns) == 0 && n > parquetMaxEmptyRows:
		return 0, fmt.Errorf("%w: parquet: %d rows without columns", ErrFormat, n)
	}
	return n, nil
}

// parquetReadColumn calls fn with every value of a column chunk and its row
// number in the chunk, and returns the number of values.
func parquetReadColumn(chunk parquet.ColumnChunk, buf []parquet.Value, fn func(int, parquet.Value) error) (int, error) {
	pages := chunk.Pages()
	defer pages.Close()
	k := 0
	for {
		page, err := pages.ReadPage()
		if errors.Is(err, io.EOF) {
			return k, nil
		}
		if err != nil {
			return k, fmt.Errorf("%w: parquet: %w", ErrFormat, err)
		}
		k, err = parquetReadPage(page, buf, k, fn)
		parquet.Release(page)
		if err != nil {
			return k, err
		}
	}
}

func parquetReadPage(page parquet.Page, buf []parquet.Value, k int, fn func(int, parquet.Value) error) (int, error) {
	values := page.Values()
	for {
		n, err := values.ReadValues(buf)
		for _, v := range buf[:n] {
			if v.RepetitionLevel() != 0 {
				return k, fmt.Errorf("%w: parquet: repeated value", ErrFormat)
			}
			if err := fn(k, v); err != nil {
				return k, err
			}
			k++
		}
		if errors.Is(err, io.EOF) {
			return k, nil
		}
		if err != nil {
			return k, fmt.Errorf("%w: parquet: %w", ErrFormat, err)
		}
		if n == 0 {
			return k, fmt.Errorf("%w: parquet: page reader made no progress", ErrFormat)
		}
	}
}

// parquetDecoder turns a non-null Parquet value into the Go value of its
// column's data type.
type parquetDecoder func(parquet.Value) (any, error)

// parquetDecoderFor checks that the Parquet leaf fits column c and returns
// the decoder of its values.
// With box, values are boxed there and json values parsed into its reused
// maps and lists.
func parquetDecoderFor(c schema.Column, leaf *parquet.Column, box *jsonv.Boxer) (parquetDecoder, error) {
	if !leaf.Leaf() || leaf.Repeated() || leaf.MaxDefinitionLevel() > 1 {
		return nil, fmt.Errorf("%w: parquet: column %q is not a flat leaf", ErrFormat, c.Name)
	}
	typ := leaf.Type()
	kind := typ.Kind()
	lt := typ.LogicalType()
	var want parquet.Kind
	var dec parquetDecoder
	switch c.DataType {
	case schema.TypeText:
		want, dec = parquet.ByteArray, func(v parquet.Value) (any, error) { return string(v.ByteArray()), nil }
		if box != nil {
			dec = func(v parquet.Value) (any, error) { return box.String(string(v.ByteArray())), nil }
		}
	case schema.TypeDecimal:
		want, dec = parquet.ByteArray, func(v parquet.Value) (any, error) {
			// The encoder writes plain digits; refuse exponents, which
			// could ask big.Rat for 10^999999999.
			b := v.ByteArray()
			if len(b) == 0 || bytes.ContainsFunc(b, func(r rune) bool { return (r < '0' || r > '9') && r != '-' && r != '.' }) {
				return nil, fmt.Errorf("decimal %q is not plain digits", b)
			}
			return schema.ParseDecimal(string(b))
		}
	case schema.TypeBinary:
		want, dec = parquet.ByteArray, func(v parquet.Value) (any, error) {
			b := v.ByteArray()
			return append(make([]byte, 0, len(b)), b...), nil
		}
	case schema.TypeJSON:
		want, dec = parquet.ByteArray, func(v parquet.Value) (any, error) { return parquetDecodeJSON(v.ByteArray(), box) }
	case schema.TypeBigInt:
		want, dec = parquet.Int64, func(v parquet.Value) (any, error) { return v.Int64(), nil }
		if box != nil {
			dec = func(v parquet.Value) (any, error) { return box.Int64(v.Int64()), nil }
		}
	case schema.TypeDouble:
		want, dec = parquet.Double, func(v parquet.Value) (any, error) { return v.Double(), nil }
		if box != nil {
			dec = func(v parquet.Value) (any, error) { return box.Float64(v.Double()), nil }
		}
	case schema.TypeBool:
		want, dec = parquet.Boolean, func(v parquet.Value) (any, error) { return v.Boolean(), nil }
	case schema.TypeDate:
		want, dec = parquet.Int32, func(v parquet.Value) (any, error) { return schema.DateFromDays(v.Int32()), nil }
	case schema.TypeTime:
		want, dec = parquet.Int64, func(v parquet.Value) (any, error) {
			n := v.Int64()
			if n < 0 || n >= int64(24*time.Hour) {
				return nil, fmt.Errorf("time of day %d ns out of range", n)
			}
			return schema.TimeOfDayFromNanos(n), nil
		}
	case schema.TypeTimestamp:
		if kind == parquet.Int96 {
			want, dec = parquet.Int96, func(v parquet.Value) (any, error) {
				x := v.Int96()
				if nanos := uint64(x[0]) | uint64(x[1])<<32; nanos >= uint64(24*time.Hour) {
					return nil, fmt.Errorf("INT96 timestamp with %d ns in a day", nanos)
				}
				return parquetTimeFromInt96(x), nil
			}
			break
		}
		want = parquet.Int64
		var ts *format.TimestampType
		if lt != nil {
			ts, _ = lt.Value.(*format.TimestampType)
		}
		switch {
		case ts != nil && parquetIsUnit[*format.NanoSeconds](ts.Unit):
			dec = func(v parquet.Value) (any, error) { return time.Unix(0, v.Int64()).UTC(), nil }
			if box != nil {
				dec = func(v parquet.Value) (any, error) { return box.Time(time.Unix(0, v.Int64()).UTC()), nil }
			}
		case ts != nil && parquetIsUnit[*format.MicroSeconds](ts.Unit):
			dec = func(v parquet.Value) (any, error) { return time.UnixMicro(v.Int64()).UTC(), nil }
		default:
			return nil, fmt.Errorf("%w: parquet: column %q: timestamp stored as %s", ErrFormat, c.Name, typ)
		}
	default:
		return nil, fmt.Errorf("%w: parquet: column %q: unknown data type %q", ErrFormat, c.Name, c.DataType)
	}
	if kind != want {
		return nil, fmt.Errorf("%w: parquet: column %q (%s) stored as %s", ErrFormat, c.Name, c.DataType, typ)
	}
	return dec, nil
}

func parquetIsUnit[T format.TimeUnitValue](u format.TimeUnit) bool {
	_, ok := u.Value.(T)
	return ok
}

// parquetDecodeJSON decodes a json value, an object or an array, as
// internal/jsonv parses it, like the rest of bridge (into box if not nil).
func parquetDecodeJSON(b []byte, box *jsonv.Boxer) (any, error) {
	var v any
	var err error
	if box != nil {
		v, err = box.ParseString(string(b))
	} else {
		v, err = jsonv.Parse(b)
	}
	if err != nil {
		return nil, err
	}
	switch v.(type) {
	case map[string]any, []any:
		return v, nil
	}
	return nil, fmt.Errorf("json: %T is not an object or array", v)
}
