// Package file is bridge's file sink: it writes every batch as one file
// under a directory, as JSON lines or Parquet, optionally gzipped, named by
// a template ("{table}/{batch_id}.{ext}").
//
// Each file is written to a temporary file beside it (".tmp-" and the name)
// and renamed into place, so a reader of the directory never sees half a
// file, and a batch written again (a retry, a redelivery after a lost ack)
// replaces its own file: the directory holds each batch once. The file is
// synced to disk before the batch is acknowledged.
package file

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/fanoutbridge/bridge"
	"github.com/fanoutbridge/bridge/batcher"
	"github.com/fanoutbridge/bridge/queue"
	"github.com/fanoutbridge/bridge/sink"
)

// Config is the file sink's settings. Through Destination or the command
// line each field is resolved from code, DESTINATION__<NAME>__<KEY>,
// .bridge/secrets.toml and .bridge/config.toml [destination.<name>], then
// its default (see bridge.NewConfiguredSink). New fills zero fields with the
// same defaults.
type Config struct {
	// Dir is the directory the files go under; made if missing.
	Dir string `bridge:"file_dir"`
	// Format is "jsonl" (one JSON object per row and line, values as bridge
	// types them: timestamps RFC 3339 in UTC, decimals as strings, binary as
	// base64) or "parquet" (one Parquet file per batch, with the table's
	// schema). Empty: "jsonl" (the command line's file destination: the
	// --format of the run).
	Format string `bridge:"file_format,optional"`
	// Name is the file name template, relative to Dir: {table} (the table's
	// name, as a path-safe token), {batch_id}, {load_id}, {date} (the load's
	// date, UTC, 2006-01-02) and {ext} ("jsonl" or "parquet", with ".gz"
	// when gzipped). It must hold {batch_id}: each batch needs its own file.
	// For a batch id not made by bridge, {load_id} is "unknown" and {date}
	// the day of the write.
	Name string `bridge:"file_name" default:"{table}/{batch_id}.{ext}"`
	// Gzip compresses each file with gzip.
	Gzip bool `bridge:"file_gzip,optional"`
}

// The formats.
const (
	FormatJSONL   = "jsonl"
	FormatParquet = "parquet"
)

// DefaultName is the default file name template.
const DefaultName = "{table}/{batch_id}.{ext}"

var placeholders = []string{"{table}", "{batch_id}", "{load_id}", "{date}", "{ext}"}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	switch {
	case c.Dir == "":
		return errors.New("file_dir: set the directory to write to")
	case c.Format != FormatJSONL && c.Format != FormatParquet:
		return fmt.Errorf("file_format %q: want %q or %q", c.Format, FormatJSONL, FormatParquet)
	case !strings.Contains(c.Name, "{batch_id}"):
		return fmt.Errorf("file_name %q: must hold {batch_id} (each batch needs a file of its own)", c.Name)
	case filepath.IsAbs(c.Name) || strings.HasPrefix(c.Name, "/"):
		return fmt.Errorf("file_name %q: must be relative to file_dir", c.Name)
	}
	rest := c.Name
	for _, p := range placeholders {
		rest = strings.ReplaceAll(rest, p, "x")
	}
	if strings.ContainsAny(rest, "{}") {
		return fmt.Errorf("file_name %q: unknown placeholder (use %s)", c.Name, strings.Join(placeholders, ", "))
	}
	for part := range strings.SplitSeq(filepath.ToSlash(rest), "/") {
		if part == ".." || part == "." || part == "" {
			return fmt.Errorf("file_name %q: no empty, '.' or '..' path elements", c.Name)
		}
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Format == "" {
		c.Format = FormatJSONL
	}
	if c.Name == "" {
		c.Name = DefaultName
	}
	return c
}

// Sink writes batches as files. It is safe for concurrent use.
type Sink struct {
	cfg Config
	now func() time.Time
}

var _ sink.Sink = (*Sink)(nil)

// New returns a file sink for cfg; zero fields take their defaults.
func New(cfg Config) (*Sink, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Sink{cfg: cfg, now: time.Now}, nil
}

// Destination returns a bridge destination named name whose file sink is
// configured from code (bridge.WithConfig(file.Config{...})), the
// environment (DESTINATION__<NAME>__FILE_DIR, ...) and .bridge/config.toml
// [destination.<name>].
func Destination(name string, opts ...bridge.Option) *bridge.Destination {
	// The sink encodes rows before Write returns and keeps none.
	opts = append([]bridge.Option{bridge.ReuseRows()}, opts...)
	return bridge.NewConfiguredSink(name, func(cfg Config) (sink.Sink, error) {
		return New(cfg)
	}, opts...)
}

// Config returns the sink's settings, defaults filled in.
func (s *Sink) Config() Config { return s.cfg }

// Path returns the file a batch of table is written to.
func (s *Sink) Path(table, batchID string) string {
	loadID, date := loadOf(batchID)
	if date == "" {
		date = s.now().UTC().Format(time.DateOnly)
	}
	ext := s.cfg.Format
	if s.cfg.Gzip {
		ext += ".gz"
	}
	name := strings.NewReplacer(
		"{table}", queue.Token(table),
		"{batch_id}", pathSafe(batchID),
		"{load_id}", pathSafe(loadID),
		"{date}", date,
		"{ext}", ext,
	).Replace(s.cfg.Name)
	return filepath.Join(s.cfg.Dir, filepath.FromSlash(name))
}

// Write writes the batch's file, atomically; a batch written again
// replaces its file.
func (s *Sink) Write(ctx context.Context, b sink.Batch) error {
	var data []byte
	var err error
	if s.cfg.Format == FormatParquet {
		data, err = batcher.Encode(nil, batcher.Parquet, &b.Table, b.Rows)
	} else {
		data, err = batcher.AppendRows(nil, &b.Table, b.Rows)
	}
	if err != nil {
		return sink.Terminal(fmt.Errorf("encode batch %s: %w", b.ID, err))
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return writeAtomic(s.Path(b.Table.Name, b.ID), data, s.cfg.Gzip)
}

// writeAtomic writes data to path through a temporary file in the same
// directory, synced, then renamed over path.
func writeAtomic(path string, data []byte, gz bool) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("file sink: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("file sink: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
			err = fmt.Errorf("file sink: write %s: %w", path, err)
		}
	}()
	if gz {
		zw := gzip.NewWriter(tmp)
		if _, err := zw.Write(data); err != nil {
			return err
		}
		if err := zw.Close(); err != nil {
			return err
		}
	} else if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	// The rename itself reaches the disk with the directory.
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// pathSafe keeps a batch or load id one path element.
func pathSafe(s string) string {
	if s == "" {
		return "unknown"
	}
	s = strings.NewReplacer("/", "_", `\`, "_", "\x00", "_").Replace(s)
	if s == "." || s == ".." {
		return "_" + s
	}
	return s
}

// loadOf returns the load id and its UTC date from a batch id made by
// bridge, "<pipeline>.<seconds>.<micros>.<table>.<seq>[.p<part>]"; "" for
// an id of another form.
func loadOf(batchID string) (loadID, date string) {
	parts := strings.Split(batchID, ".")
	if len(parts) < 5 {
		return "", ""
	}
	secs, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return "", ""
	}
	if _, err := strconv.ParseUint(parts[2], 10, 64); err != nil {
		return "", ""
	}
	return parts[1] + "." + parts[2], time.Unix(secs, 0).UTC().Format(time.DateOnly)
}
