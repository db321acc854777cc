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
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/klauspost/compress/s2"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/encoding"
	"github.com/parquet-go/parquet-go/encoding/thrift"
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
func encodeParquet(dst []byte, t *schema.Table, rows []schema.Row) (out []byte, err error) {
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
			if units[j], err = parquetPickTimeUnit(c.Name, rows); err != nil {
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
	w := parquet.NewWriter(buf,
		parquet.NewSchema(parquetSchemaName(t.Name), root),
		parquet.Compression(parquetCodec),
		parquet.DataPageVersion(1),
		parquet.WriteBufferSize(0),
		parquet.KeyValueMetadata(parquetTableKey, string(meta)),
		parquet.KeyValueMetadata(parquetRowsKey, strconv.Itoa(len(rows))),
	)
	e := parquetEncoders.Get().(*parquetEncoder)
	defer e.release()
	e.keys = slices.Grow(e.keys[:0], len(rows))[:len(rows)]
	clear(e.keys)
	cws := w.ColumnWriters()
	for j, c := range t.Columns {
		for lo := 0; lo < len(rows); lo += parquetChunkRows {
			hi := min(lo+parquetChunkRows, len(rows))
			if err := e.chunk(j, c, units[j], rows[lo:hi], e.keys[lo:hi]); err != nil {
				return dst, err
			}
			if _, err := cws[j].WriteRowValues(e.vals); err != nil {
				return dst, fmt.Errorf("batcher: parquet: column %q: %w", c.Name, err)
			}
		}
	}
	for i, row := range rows {
		if e.keys[i] != len(row) {
			for k, v := range row {
				if t.ColumnIndex(k) < 0 && !parquetIsNull(v) {
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
func (e *parquetEncoder) chunk(j int, c schema.Column, unit parquetTimeUnit, rows []schema.Row, keys []int) error {
	e.vals = e.vals[:0]
	e.span = e.span[:0]
	e.arena = e.arena[:0]
	null := parquet.NullValue().Level(0, 0, j)
	for i, row := range rows {
		v, ok := row[c.Name]
		if ok {
			keys[i]++
		}
		if parquetIsNull(v) {
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
			case map[string]any, []any:
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
		e.vals = append(e.vals, pv.Level(0, 1, j))
		e.span = append(e.span, [2]int{start, len(e.arena)})
	}
	if parquetIsByteArray(c.DataType) {
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

// parquetIsNull reports whether v stands for null.
func parquetIsNull(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case []byte:
		return v == nil
	case map[string]any:
		return v == nil
	case []any:
		return v == nil
	}
	return false
}

// parquetPickTimeUnit returns the narrowest lossless representation for the
// timestamps of the named column.
func parquetPickTimeUnit(name string, rows []schema.Row) (parquetTimeUnit, error) {
	unit := parquetNanos
	for _, row := range rows {
		ts, ok := row[name].(time.Time)
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

// parquetRoot returns the Parquet schema of t: one optional leaf per column,
// in the table's order (parquet.Group would sort them by name).
func parquetRoot(t *schema.Table, units []parquetTimeUnit) (parquetGroup, error) {
	// The metadata is JSON, which cannot carry invalid UTF-8, and rows are
	// maps, which cannot hold two columns of one name.
	for _, s := range []string{t.Name, t.Parent} {
		if !utf8.ValidString(s) {
			return nil, fmt.Errorf("batcher: parquet: table name %q is not valid UTF-8", s)
		}
	}
	names := make(map[string]bool, len(t.Columns))
	for _, c := range t.Columns {
		if !utf8.ValidString(c.Name) || !utf8.ValidString(c.Of) {
			return nil, fmt.Errorf("batcher: parquet: column %q: name is not valid UTF-8", c.Name)
		}
		if names[c.Name] {
			return nil, fmt.Errorf("batcher: parquet: column %q: duplicate column", c.Name)
		}
		names[c.Name] = true
	}
	g := make(parquetGroup, len(t.Columns))
	used := make(map[string]bool, len(t.Columns))
	for _, c := range t.Columns {
		if parquetNameOK(c.Name) {
			used[c.Name] = true
		}
	}
	for j, c := range t.Columns {
		leaf, err := parquetLeaf(c.DataType, units[j])
		if err != nil {
			return nil, fmt.Errorf("batcher: parquet: column %q: %w", c.Name, err)
		}
		name := c.Name
		if !parquetNameOK(name) {
			// The file gets a stand-in, unique among the names; the
			// metadata carries the real name, which the decoder uses.
			name = "_col" + strconv.Itoa(j)
			for used[name] {
				name += "_"
			}
			used[name] = true
		}
		g[j] = &parquetField{Node: parquet.Optional(leaf), name: name}
	}
	return g, nil
}

// parquetNameOK reports whether name can be a Parquet field name as it is.
// The format and parquet-go's reader and writer take any UTF-8 string, dots,
// stars, spaces, quotes, unicode and long names included (field names are
// path elements, not expressions), but an empty name is no name to other
// tools, and a comma makes parquet-go panic wherever it derives a Go struct
// type from the file's schema (Schema.GoType, reading into structs).
func parquetNameOK(name string) bool {
	return name != "" && !strings.ContainsRune(name, ',')
}

// parquetSchemaName is the name of the root of the Parquet schema.
func parquetSchemaName(table string) string {
	if table == "" {
		return "schema"
	}
	return table
}

// parquetLeaf returns the Parquet leaf for a data type.
func parquetLeaf(dt schema.DataType, unit parquetTimeUnit) (parquet.Node, error) {
	switch dt {
	case schema.TypeText, schema.TypeDecimal:
		return parquet.String(), nil
	case schema.TypeBigInt:
		return parquet.Leaf(parquet.Int64Type), nil
	case schema.TypeDouble:
		return parquet.Leaf(parquet.DoubleType), nil
	case schema.TypeBool:
		return parquet.Leaf(parquet.BooleanType), nil
	case schema.TypeTimestamp:
		switch unit {
		case parquetNanos:
			return parquet.Timestamp(parquet.Nanosecond), nil
		case parquetMicros:
			return parquet.Timestamp(parquet.Microsecond), nil
		}
		return parquet.Leaf(parquet.Int96Type), nil
	case schema.TypeDate:
		return parquet.Date(), nil
	case schema.TypeTime:
		return parquet.Time(parquet.Nanosecond), nil
	case schema.TypeBinary:
		return parquet.Leaf(parquet.ByteArrayType), nil
	case schema.TypeJSON:
		return parquet.JSON(), nil
	}
	return nil, fmt.Errorf("unknown data type %q", dt)
}

// parquetGroup is a Parquet group whose fields keep their order.
type parquetGroup []parquet.Field

func (g parquetGroup) ID() int                     { return 0 }
func (g parquetGroup) Type() parquet.Type          { return parquet.Group{}.Type() }
func (g parquetGroup) Optional() bool              { return false }
func (g parquetGroup) Repeated() bool              { return false }
func (g parquetGroup) Required() bool              { return true }
func (g parquetGroup) Leaf() bool                  { return false }
func (g parquetGroup) Fields() []parquet.Field     { return g }
func (g parquetGroup) Encoding() encoding.Encoding { return nil }
func (g parquetGroup) Compression() compress.Codec { return nil }
func (g parquetGroup) GoType() reflect.Type        { return reflect.TypeFor[map[string]any]() }

func (g parquetGroup) String() string {
	var b strings.Builder
	_ = parquet.PrintSchema(&b, "", g)
	return b.String()
}

// parquetField names a node in a parquetGroup.
type parquetField struct {
	parquet.Node
	name string
}

func (f *parquetField) Name() string { return f.name }

// Value serves reflection-based writers, which bridge does not use: the
// group's Go type is a map keyed by field name.
func (f *parquetField) Value(base reflect.Value) reflect.Value {
	for base.Kind() == reflect.Interface || base.Kind() == reflect.Pointer {
		if base.IsNil() {
			return reflect.Value{}
		}
		base = base.Elem()
	}
	if base.Kind() != reflect.Map {
		return reflect.Value{}
	}
	return base.MapIndex(reflect.ValueOf(f.name))
}

// decodeParquet restores the table and rows of a payload made by
// encodeParquet.
func decodeParquet(payload []byte) (t *schema.Table, rows []schema.Row, err error) {
	defer func() {
		if r := recover(); r != nil {
			t, rows, err = nil, nil, fmt.Errorf("%w: parquet: %v", ErrFormat, r)
		}
	}()
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
	t, err = parquetTableOf(f)
	if err != nil {
		return nil, nil, err
	}
	numRows, err := parquetNumRows(f, t)
	if err != nil {
		return nil, nil, err
	}
	if len(t.Columns) == 0 {
		rows = make([]schema.Row, numRows)
		for i := range rows {
			rows[i] = schema.Row{}
		}
		return t, rows, nil
	}
	leaves := f.Root().Columns()
	decs := make([]parquetDecoder, len(t.Columns))
	for j, c := range t.Columns {
		if decs[j], err = parquetDecoderFor(c, leaves[j]); err != nil {
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
					rows = append(rows, make(schema.Row, len(t.Columns)))
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

// Decoding checks. parquet-go trusts the sizes a file claims: it allocates
// a footer, a Thrift list, a page or a codec's output of whatever length the
// file announces before reading it (and its LZ4 decoder doubles its buffer
// without end on corrupt input), so a few bytes of garbage can exhaust memory,
// which no recover catches. decodeParquet checks those claims against the
// payload before parquet-go acts on them, for the files encodeParquet writes:
// plain footers, Snappy or uncompressed v1 data pages, no dictionaries.

const (
	// parquetMaxRows bounds the rows of one payload.
	parquetMaxRows = 1 << 24
	// parquetMaxRatio bounds how much a Snappy page may expand; Snappy's
	// own limit is about 21.
	parquetMaxRatio = 32
	// parquetMaxDepth bounds the nesting of Thrift structs and lists.
	parquetMaxDepth = 64
)

var errParquetThrift = errors.New("malformed thrift")

// parquetCheckFrame checks the magic bytes, the footer length and the lists
// in the footer.
func parquetCheckFrame(payload []byte) error {
	const magic = "PAR1"
	n := len(payload)
	if n < 2*len(magic)+4 || string(payload[:4]) != magic || string(payload[n-4:]) != magic {
		return fmt.Errorf("%w: parquet: not a Parquet file", ErrFormat)
	}
	size := binary.LittleEndian.Uint32(payload[n-8:])
	if int64(size) > int64(n-12) {
		return fmt.Errorf("%w: parquet: footer of %d bytes in a %d byte file", ErrFormat, size, n)
	}
	footer := payload[n-8-int(size) : n-8]
	if end, err := parquetThriftStruct(footer, 0, 0); err != nil || end != len(footer) {
		return fmt.Errorf("%w: parquet: footer: %w", ErrFormat, errParquetThrift)
	}
	return nil
}

// parquetCheckChunks checks every column chunk of f and the headers of its
// pages: a codec whose output size is known before decoding, pages inside the
// chunk, each page's decompressed size (which the Snappy header must repeat)
// and its number of values.
func parquetCheckChunks(f *parquet.File, payload []byte) error {
	md := f.Metadata()
	var rows int64
	for _, rg := range md.RowGroups {
		if rg.NumRows < 0 || rg.NumRows > parquetMaxRows-rows {
			return fmt.Errorf("%w: parquet: more than %d rows", ErrFormat, parquetMaxRows)
		}
		rows += rg.NumRows
		for j := range rg.Columns {
			if err := parquetCheckChunk(&rg.Columns[j].MetaData, rg.NumRows, payload); err != nil {
				return fmt.Errorf("%w: parquet: column chunk %d: %w", ErrFormat, j, err)
			}
		}
	}
	if rows != md.NumRows {
		return fmt.Errorf("%w: parquet: row groups hold %d rows, file says %d", ErrFormat, rows, md.NumRows)
	}
	return nil
}

func parquetCheckChunk(m *format.ColumnMetaData, numRows int64, payload []byte) error {
	if m.Codec != format.Snappy && m.Codec != format.Uncompressed {
		return fmt.Errorf("compression %v is not supported", m.Codec)
	}
	if m.DictionaryPageOffset != 0 || m.IndexPageOffset != 0 {
		return errors.New("dictionary or index pages are not supported")
	}
	start, size := m.DataPageOffset, m.TotalCompressedSize
	if start < 4 || size < 0 || start > int64(len(payload)) || size > int64(len(payload))-start {
		return fmt.Errorf("%d bytes at %d are outside the file", size, start)
	}
	chunk := payload[start : start+size]
	var proto thrift.CompactProtocol
	var values int64
	for i := 0; i < len(chunk); {
		end, err := parquetThriftStruct(chunk, i, 0)
		if err != nil {
			return fmt.Errorf("page header: %w", err)
		}
		var h format.PageHeader
		if err := thrift.Unmarshal(&proto, chunk[i:end], &h); err != nil {
			return fmt.Errorf("page header: %w", err)
		}
		i = end
		c, u := int64(h.CompressedPageSize), int64(h.UncompressedPageSize)
		switch {
		case h.Type != format.DataPage || !h.DataPageHeader.Valid:
			return fmt.Errorf("page type %v is not supported", h.Type)
		case c < 0 || c > int64(len(chunk)-i):
			return fmt.Errorf("page of %d bytes in a chunk of %d", c, len(chunk))
		case h.DataPageHeader.V.NumValues < 0 || int64(h.DataPageHeader.V.NumValues) > numRows-values:
			return fmt.Errorf("more values than the %d rows", numRows)
		}
		values += int64(h.DataPageHeader.V.NumValues)
		body := chunk[i : i+int(c)]
		i += int(c)
		if m.Codec == format.Uncompressed {
			if u != c {
				return fmt.Errorf("uncompressed page of %d bytes says %d", c, u)
			}
			continue
		}
		n, k := binary.Uvarint(body)
		if k <= 0 || n != uint64(u) || u > parquetMaxRatio*c+64 {
			return fmt.Errorf("Snappy page of %d bytes says %d and %d", c, u, n)
		}
	}
	if values != numRows {
		return fmt.Errorf("%d values for %d rows", values, numRows)
	}
	return nil
}

// parquetThriftStruct walks the compact-protocol Thrift struct at b[i:] and
// returns the offset just past it. It checks that every list, set and map
// claims no more elements than bytes remain (each takes at least one), as
// parquet-go's decoder allocates the claimed length before reading.
func parquetThriftStruct(b []byte, i, depth int) (int, error) {
	if depth > parquetMaxDepth {
		return 0, errParquetThrift
	}
	for {
		if i >= len(b) {
			return 0, errParquetThrift
		}
		h := b[i]
		i++
		if h == 0 {
			return i, nil
		}
		var err error
		if h>>4 == 0 { // the field id follows as a varint
			if _, i, err = parquetUvarint(b, i); err != nil {
				return 0, err
			}
		}
		if i, err = parquetThriftValue(b, i, h&0x0f, false, depth); err != nil {
			return 0, err
		}
	}
}

// parquetThriftValue skips one value of compact type typ at b[i:]. A bool
// field keeps its value in the field header; a bool element takes a byte.
func parquetThriftValue(b []byte, i int, typ byte, elem bool, depth int) (int, error) {
	switch typ {
	case 1, 2: // bool
		if elem {
			return parquetSkip(b, i, 1)
		}
		return i, nil
	case 3: // i8
		return parquetSkip(b, i, 1)
	case 4, 5, 6: // i16, i32, i64
		_, i, err := parquetUvarint(b, i)
		return i, err
	case 7: // double
		return parquetSkip(b, i, 8)
	case 8: // binary
		n, i, err := parquetUvarint(b, i)
		if err != nil {
			return 0, err
		}
		return parquetSkip(b, i, n)
	case 9, 10: // list, set
		if i >= len(b) {
			return 0, errParquetThrift
		}
		h := b[i]
		i++
		n := uint64(h >> 4)
		if n == 15 {
			var err error
			if n, i, err = parquetUvarint(b, i); err != nil {
				return 0, err
			}
		}
		return parquetThriftElems(b, i, n, h&0x0f, 0, depth)
	case 11: // map
		n, i, err := parquetUvarint(b, i)
		if err != nil || n == 0 {
			return i, err
		}
		if i >= len(b) {
			return 0, errParquetThrift
		}
		kv := b[i]
		return parquetThriftElems(b, i+1, n, kv>>4, kv&0x0f, depth)
	case 12: // struct
		return parquetThriftStruct(b, i, depth+1)
	case 13: // uuid
		return parquetSkip(b, i, 16)
	}
	return 0, errParquetThrift
}

// parquetThriftElems skips n elements of type elem, or n key/value pairs
// when val is set.
func parquetThriftElems(b []byte, i int, n uint64, elem, val byte, depth int) (int, error) {
	if n > uint64(len(b)-i) || depth >= parquetMaxDepth {
		return 0, errParquetThrift
	}
	var err error
	for range n {
		if i, err = parquetThriftValue(b, i, elem, true, depth+1); err != nil {
			return 0, err
		}
		if val != 0 {
			if i, err = parquetThriftValue(b, i, val, true, depth+1); err != nil {
				return 0, err
			}
		}
	}
	return i, nil
}

func parquetUvarint(b []byte, i int) (uint64, int, error) {
	if i > len(b) {
		return 0, 0, errParquetThrift
	}
	v, n := binary.Uvarint(b[i:])
	if n <= 0 {
		return 0, 0, errParquetThrift
	}
	return v, i + n, nil
}

func parquetSkip(b []byte, i int, n uint64) (int, error) {
	if i > len(b) || n > uint64(len(b)-i) {
		return 0, errParquetThrift
	}
	return i + int(n), nil
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
func parquetDecoderFor(c schema.Column, leaf *parquet.Column) (parquetDecoder, error) {
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
		want, dec = parquet.ByteArray, func(v parquet.Value) (any, error) { return parquetDecodeJSON(v.ByteArray()) }
	case schema.TypeBigInt:
		want, dec = parquet.Int64, func(v parquet.Value) (any, error) { return v.Int64(), nil }
	case schema.TypeDouble:
		want, dec = parquet.Double, func(v parquet.Value) (any, error) { return v.Double(), nil }
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
// internal/jsonv parses it, like the rest of bridge.
func parquetDecodeJSON(b []byte) (any, error) {
	v, err := jsonv.Parse(b)
	if err != nil {
		return nil, err
	}
	switch v.(type) {
	case map[string]any, []any:
		return v, nil
	}
	return nil, fmt.Errorf("json: %T is not an object or array", v)
}
