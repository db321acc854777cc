package batcher

// Parquet payloads. A payload is one complete Parquet file holding the rows of
// one batch: one optional Parquet column per table column, in the table's
// column order, and the table itself (encoding/json of *schema.Table) in the
// file's key/value metadata under "bridge.table", so that decoding needs
// nothing else. The files are plain Parquet (data page v1, Snappy, no
// dictionaries) that generic tools read in file mode.
//
// Data types map to Parquet types so that every value restores exactly:
//
//	text       BYTE_ARRAY  String
//	bigint     INT64
//	double     DOUBLE      (NaN, ±Inf and -0 keep their bits)
//	bool       BOOLEAN
//	timestamp  INT64       Timestamp(NANOS, UTC-adjusted); see below
//	date       INT32       Date (days since 1970-01-01)
//	time       INT64       Time(NANOS, UTC-adjusted) (nanoseconds since midnight)
//	decimal    BYTE_ARRAY  String: the decimal's canonical text, any precision
//	binary     BYTE_ARRAY  (no logical type)
//	json       BYTE_ARRAY  JSON: compact JSON text
//
// Timestamps: INT64 nanoseconds only reach 1677-09-21..2262-04-11. A
// timestamp column whose values do not all fit is written, for that file only,
// as Timestamp(MICROS) when every value is a whole microsecond (this covers
// sentinels such as 0001-01-01 and 9999-12-31), and otherwise as the legacy
// INT96 timestamp (nanoseconds of the day and Julian day, the Hive/Spark/Impala
// layout), which keeps nanoseconds for years -5.8M..5.8M. Only a time
// beyond that range is an error. The decoder reads the unit from the Parquet
// schema.
//
// Dates are INT32 days, which covers years -5.8M..5.8M; a date beyond that
// range, or a schema.Date that is not a real calendar date (month 13), is an
// error naming the column, since it would not restore exactly.
//
// A nil []byte, map[string]any or []any in a row is null, like a nil value
// (database/sql scans NULL into a nil []byte).
//
// Column names go into the Parquet schema as they are: dots, "*", ">",
// spaces, quotes, unicode, long names and names differing only in case are
// all fine there. Two kinds are not, and get a positional stand-in ("_col3")
// in the file while the metadata keeps the real name: the empty name, and
// names with a comma, which make parquet-go panic when it derives a Go type
// from the file's schema. Names must be valid UTF-8, as the JSON metadata
// cannot carry anything else.
//
// json values are written and read with internal/jsonv, as everywhere in
// bridge: their contents (nil, bool, string, int64, float64, integral
// schema.Decimal beyond int64, nested objects and arrays) restore exactly,
// whole float64s included (written with a ".0").

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/format"

	"github.com/fanoutbridge/bridge/internal/jsonv"
	"github.com/fanoutbridge/bridge/schema"
)

const (
	// parquetTableKey is the key/value metadata key holding the table as JSON.
	parquetTableKey = "bridge.table"
	// parquetRowsKey holds the number of rows, which a file without columns
	// cannot carry itself.
	parquetRowsKey = "bridge.rows"
	// parquetChunkRows is how many rows of a column go to the column writer
	// at once. A row never spans pages, so this also bounds the overshoot of
	// a page past the writer's page buffer size.
	parquetChunkRows = 512
	// parquetMaxEmptyRows bounds the row count of a payload of a table
	// without columns, whose rows cost nothing in the file.
	parquetMaxEmptyRows = 1 << 20
	// parquetMaxPooled bounds the buffers kept for reuse by the next encode.
	parquetMaxPooled = 1 << 20
)

// parquetCodec compresses the pages: Snappy, written by the fast encoder
// (parquetSnappy). On a 1000-row batch of event rows (BenchmarkParquetCodec)
// it encoded fastest of parquet-go's Snappy, zstd at its fastest level and
// no compression, and decoded as fast as any; zstd made files half the size
// but its decoder allocates whatever output size a frame claims, which
// decodeParquet could not check up front.
var parquetCodec compress.Codec = parquetSnappy{}

// parquetSnappy is the SNAPPY codec with klauspost's fast Snappy encoder;
// parquet-go's own uses the "better" one, which took a third longer and
// allocated its hash tables on every page. The output is plain Snappy.
type parquetSnappy struct{}

func (parquetSnappy) String() string                            { return "SNAPPY" }
func (parquetSnappy) CompressionCodec() format.CompressionCodec { return format.Snappy }
func (parquetSnappy) Encode(dst, src []byte) ([]byte, error)    { return s2.EncodeSnappy(dst, src), nil }
func (parquetSnappy) Decode(dst, src []byte) ([]byte, error)    { return s2.Decode(dst, src) }

// Timestamp representations, chosen per column per file.
type parquetTimeUnit int

const (
	parquetNanos parquetTimeUnit = iota
	parquetMicros
	parquetInt96
)

// julianUnixEpoch is the Julian day number of 1970-01-01.
const julianUnixEpoch = 2440588

// encodeParquet appends one Parquet file holding rows of table t to dst.
func encodeParquet(dst []byte, t *schema.Table, rows []schema.Row) ([]byte, error) {
	return encodeParquetSet(dst, t, rowSet{maps: rows})
}

// encodeParquetSet is encodeParquet for rows held either way.
func encodeParquetSet(dst []byte, t *schema.Table, rows rowSet) (out []byte, err error) {
	if err := rows.check(t); err != nil {
		return dst, fmt.Errorf("batcher: parquet: %w", err)
	}
	if len(t.Columns) > parquet.MaxColumnIndex {
		return dst, fmt.Errorf("batcher: parquet: table %q has %d columns, more than %d", t.Name, len(t.Columns), parquet.MaxColumnIndex)
	}
	meta, err := json.Marshal(t)
	if err != nil {
		return dst, fmt.Errorf("batcher: parquet: table %q: %w", t.Name, err)
	}
	units := make([]parquetTimeUnit, len(t.Columns))
	for j, c := range t.Columns {
		if c.DataType == schema.TypeTimestamp {
			if units[j], err = parquetPickTimeUnit(j, c.Name, rows); err != nil {
				return dst, err
			}
		}
	}
	root, err := parquetRoot(t, units)
	if err != nil {
		return dst, err
	}

	// parquet-go panics on some invalid input rather than returning errors;
	// a panic there must not take the process down.
	defer func() {
		if r := recover(); r != nil {
			out, err = dst, fmt.Errorf("batcher: parquet: table %q: encoding: %v", t.Name, r)
		}
	}()

	buf := bytes.NewBuffer(dst)
	opts := []parquet.WriterOption{
		parquet.NewSchema(parquetSchemaName(t.Name), root),
		parquet.Compression(parquetCodec),
		parquet.DataPageVersion(1),
		parquet.WriteBufferSize(0),
		parquet.KeyValueMetadata(parquetTableKey, string(meta)),
		parquet.KeyValueMetadata(parquetRowsKey, strconv.Itoa(rows.len())),
	}
	for j, c := range t.Columns {
		switch c.DataType {
		case schema.TypeText, schema.TypeBinary, schema.TypeJSON:
			// No min/max of byte values in page headers, the column
			// index or the chunk's statistics: each is a copy of a
			// value, and one long string would be in the file six times.
			opts = append(opts, parquet.SkipPageBounds(root[j].Name()), parquet.SkipPageStatistics(root[j].Name()))
		}
	}
	w := parquet.NewWriter(buf, opts...)
	e := parquetEncoders.Get().(*parquetEncoder)
	defer e.release()
	n := rows.len()
	e.keys = slices.Grow(e.keys[:0], n)[:n]
	clear(e.keys)
	cws := w.ColumnWriters()
	for j, c := range t.Columns {
		for lo := 0; lo < n; lo += parquetChunkRows {
			hi := min(lo+parquetChunkRows, n)
			if err := e.chunk(j, c, units[j], rows.slice(lo, hi), e.keys[lo:hi]); err != nil {
				return dst, err
			}
			if _, err := cws[j].WriteRowValues(e.vals); err != nil {
				return dst, fmt.Errorf("batcher: parquet: column %q: %w", c.Name, err)
			}
		}
	}
	for i, row := range rows.maps {
		if e.keys[i] != len(row) {
			for k, v := range row {
				if t.ColumnIndex(k) < 0 && !isNull(v) {
					return dst, fmt.Errorf("batcher: parquet: row %d: column %q is not in table %q", i, k, t.Name)
				}
			}
		}
	}
	if err := w.Close(); err != nil {
		return dst, fmt.Errorf("batcher: parquet: table %q: %w", t.Name, err)
	}
	return buf.Bytes(), nil
}

// parquetEncoder holds the buffers reused across the chunks of a file.
type parquetEncoder struct {
	keys  []int // per row, how many of its keys are table columns (others must be null)
	vals  []parquet.Value
	arena []byte   // bytes of the BYTE_ARRAY values of the current chunk
	span  [][2]int // per value of the chunk, its bytes in arena; {-1,-1} is null
}

var parquetEncoders = sync.Pool{New: func() any { return new(parquetEncoder) }}

// release returns e to the pool, without references into the rows.
func (e *parquetEncoder) release() {
	clear(e.vals[:cap(e.vals)])
	if cap(e.arena) > parquetMaxPooled || cap(e.keys) > parquetMaxPooled {
		return
	}
	parquetEncoders.Put(e)
}

// chunk fills e.vals with the values of column j of rows.
func (e *parquetEncoder) chunk(j int, c schema.Column, unit parquetTimeUnit, rows rowSet, keys []int) error {
	e.vals = e.vals[:0]
	e.span = e.span[:0]
	e.arena = e.arena[:0]
	null := parquet.NullValue().Level(0, 0, j)
	byteArray := parquetIsByteArray(c.DataType)
	for i := range rows.len() {
		v, ok := rows.get(i, j, c.Name)
		if ok {
			keys[i]++
		}
		if isNull(v) {
			e.vals = append(e.vals, null)
			e.span = append(e.span, [2]int{-1, -1})
			continue
		}
		var pv parquet.Value
		mismatch := false
		start := len(e.arena)
		switch c.DataType {
		case schema.TypeText:
			s, ok := v.(string)
			mismatch, e.arena = !ok, append(e.arena, s...)
		case schema.TypeDecimal:
			d, ok := v.(schema.Decimal)
			mismatch, e.arena = !ok, append(e.arena, d.String()...)
		case schema.TypeBinary:
			b, ok := v.([]byte)
			mismatch, e.arena = !ok, append(e.arena, b...)
		case schema.TypeJSON:
			switch v.(type) {
			case map[string]any, []any, jsonv.Raw:
				var err error
				if e.arena, err = jsonv.AppendValue(e.arena, v); err != nil {
					return fmt.Errorf("batcher: parquet: column %q: %w", c.Name, err)
				}
			default:
				mismatch = true
			}
		case schema.TypeBigInt:
			n, ok := v.(int64)
			mismatch, pv = !ok, parquet.Int64Value(n)
		case schema.TypeDouble:
			f, ok := v.(float64)
			mismatch, pv = !ok, parquet.DoubleValue(f)
		case schema.TypeBool:
			b, ok := v.(bool)
			mismatch, pv = !ok, parquet.BooleanValue(b)
		case schema.TypeTimestamp:
			ts, ok := v.(time.Time)
			mismatch = !ok
			switch unit {
			case parquetNanos:
				pv = parquet.Int64Value(ts.UnixNano())
			case parquetMicros:
				pv = parquet.Int64Value(ts.UnixMicro())
			default:
				pv = parquet.Int96Value(parquetInt96Of(ts))
			}
		case schema.TypeDate:
			d, ok := v.(schema.Date)
			if mismatch = !ok; ok {
				n := d.Days()
				if schema.DateFromDays(n) != d {
					return fmt.Errorf("batcher: parquet: column %q: date %+v is out of range or not a calendar date", c.Name, d)
				}
				pv = parquet.Int32Value(n)
			}
		case schema.TypeTime:
			tod, ok := v.(schema.TimeOfDay)
			if mismatch = !ok; ok {
				n := tod.Nanos()
				if n < 0 || n >= int64(24*time.Hour) || schema.TimeOfDayFromNanos(n) != tod {
					return fmt.Errorf("batcher: parquet: column %q: time %+v is not a time of day", c.Name, tod)
				}
				pv = parquet.Int64Value(n)
			}
		default:
			return fmt.Errorf("batcher: parquet: column %q: unknown data type %q", c.Name, c.DataType)
		}
		if mismatch {
			return fmt.Errorf("batcher: parquet: column %q (%s): value of Go type %T", c.Name, c.DataType, v)
		}
		if byteArray {
			pv = parquet.Value{} // made below, once the arena has stopped growing
		} else {
			pv = pv.Level(0, 1, j)
		}
		e.vals = append(e.vals, pv)
		e.span = append(e.span, [2]int{start, len(e.arena)})
	}
	if byteArray {
		// The arena has stopped growing: point the byte array values into
		// it. The column writer copies them.
		for i, sp := range e.span {
			if sp[0] >= 0 {
				e.vals[i] = parquet.ByteArrayValue(e.arena[sp[0]:sp[1]:sp[1]]).Level(0, 1, j)
			}
		}
	}
	return nil
}

// parquetIsByteArray reports whether values of dt are stored as BYTE_ARRAY.
func parquetIsByteArray(dt schema.DataType) bool {
	switch dt {
	case schema.TypeText, schema.TypeDecimal, schema.TypeBinary, schema.TypeJSON:
		return true
	}
	return false
}

// parquetPickTimeUnit returns the narrowest lossless representation for the
// timestamps of the named column.
func parquetPickTimeUnit(j int, name string, rows rowSet) (parquetTimeUnit, error) {
	unit := parquetNanos
	for i := range rows.len() {
		v, _ := rows.get(i, j, name)
		ts, ok := v.(time.Time)
		if !ok {
			continue // null, or a mismatch reported when encoding
		}
		if unit == parquetNanos && time.Unix(0, ts.UnixNano()).Equal(ts) {
			continue
		}
		if unit <= parquetMicros && time.UnixMicro(ts.UnixMicro()).Equal(ts) {
			unit = parquetMicros
			continue
		}
		if !parquetTimeFromInt96(parquetInt96Of(ts)).Equal(ts) {
			return 0, fmt.Errorf("batcher: parquet: column %q: timestamp %s is out of range", name, ts)
		}
		unit = parquetInt96
	}
	return unit, nil
}

// parquetInt96Of returns ts in the INT96 timestamp layout: nanoseconds of the
// day in the first 8 bytes, the Julian day in the last 4, little endian. The
// day is truncated to 32 bits; callers check the round trip.
func parquetInt96Of(ts time.Time) deprecated.Int96 {
	sec := ts.Unix()
	days := sec / 86400
	if sec%86400 < 0 {
		days--
	}
	nanos := uint64(sec-days*86400)*uint64(time.Second) + uint64(ts.Nanosecond())
	return deprecated.Int96{uint32(nanos), uint32(nanos >> 32), uint32(int32(days + julianUnixEpoch))}
}

// parquetTimeFromInt96 is the inverse of parquetInt96Of.
func parquetTimeFromInt96(v deprecated.Int96) time.Time {
	nanos := int64(uint64(v[0]) | uint64(v[1])<<32)
	days := int64(int32(v[2])) - julianUnixEpoch
	return time.Unix(days*86400, nanos).UTC()
}
