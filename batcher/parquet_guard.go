package batcher

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

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
