package bridge

import (
	"fmt"
	"time"

	"github.com/fanoutbridge/bridge/batcher"
	"github.com/fanoutbridge/bridge/consumer"
	"github.com/fanoutbridge/bridge/normalize"
	"github.com/fanoutbridge/bridge/producer"
)

// Option configures a Destination.
type Option func(*destConfig) error

// FileFormat is how batches are stored in transit and handed over in file mode.
type FileFormat = batcher.Format

// The loader file formats.
const (
	TypedJSONL FileFormat = batcher.TypedJSONL
	Parquet    FileFormat = batcher.Parquet
)

// Naming is a naming convention for table and column names.
type Naming = normalize.Convention

// The naming conventions.
const (
	// Direct keeps names; only control characters and quotes become _.
	Direct Naming = normalize.Direct
	// SnakeCase: camelCase -> camel_case, PErson -> p_erson.
	SnakeCase Naming = normalize.SnakeCase
)

// Strategy says which batches may be in the destination at once.
type Strategy = consumer.Strategy

// The loader parallelism strategies.
const (
	// Parallel: any batches at once, up to MaxParallelLoadJobs.
	Parallel Strategy = consumer.Parallel
	// TableSequential: at most one call per table at a time, tables in
	// parallel, order within a table kept, across processes too: the
	// workers of the destination share a lease in NATS, one serves and
	// the others stand by.
	TableSequential Strategy = consumer.TableSequential
	// Sequential: one call at a time, on one goroutine.
	Sequential Strategy = consumer.Sequential
)

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidOption}, args...)...)
}

// BatchSize sets the items per call (default 10). Every call gets exactly n
// items except the last batch of a table in a load.
func BatchSize(n int) Option {
	return func(c *destConfig) error {
		if n < 1 {
			return invalid("batch size %d: must be at least 1 (for one call per load file use NewFileDestination)", n)
		}
		c.batchSize = n
		return nil
	}
}

// FlushInterval makes the producer cut a table's batch once its oldest row
// is d old, even if it holds fewer rows than the batch size (Benthos'
// period): for streams, whose rows come one by one. It also makes an
// io.Reader input live: lines are read and produced as they arrive, not a
// chunk at a time. 0 (the default) cuts by rows and bytes only, which keeps
// finite inputs' batches exactly BatchSize. A producer setting, like
// NamingConvention.
func FlushInterval(d time.Duration) Option {
	return func(c *destConfig) error {
		if d < 0 {
			return invalid("flush interval %v: must be 0 or more", d)
		}
		c.flushInterval = d
		return nil
	}
}

// BatchBytes makes the producer cut a table's batch once its rows reach
// about n bytes (estimated from the values), before BatchSize rows if need
// be; 0 (the default) does not cut by size. A producer setting.
func BatchBytes(n int) Option {
	return func(c *destConfig) error {
		if n < 0 {
			return invalid("batch bytes %d: must be 0 or more", n)
		}
		c.batchBytes = n
		return nil
	}
}

// FileMaxItems sets the rows per load file in file mode (default 10000).
func FileMaxItems(n int) Option {
	return func(c *destConfig) error {
		if n < 1 {
			return invalid("file max items %d: must be at least 1", n)
		}
		c.fileMaxItems = n
		return nil
	}
}

// LoaderFileFormat sets how batches travel: TypedJSONL (default) or Parquet.
func LoaderFileFormat(f FileFormat) Option {
	return func(c *destConfig) error {
		if !f.Valid() {
			return invalid("loader file format %q: want %q or %q", f, TypedJSONL, Parquet)
		}
		c.format = f
		return nil
	}
}

// NamingConvention sets how names are normalized: Direct (default) or SnakeCase.
func NamingConvention(n Naming) Option {
	return func(c *destConfig) error {
		if n != Direct && n != SnakeCase {
			return invalid("naming convention %d", int(n))
		}
		c.naming = n
		return nil
	}
}

// MaxTableNesting sets the nesting depth (default 0): 0 keeps nested objects
// and lists as one json value; n > 0 flattens objects to parent__child columns
// and turns lists into child tables parent__field, to depth n.
func MaxTableNesting(n int) Option {
	return func(c *destConfig) error {
		if n < 0 {
			return invalid("max table nesting %d: must be 0 or more", n)
		}
		c.maxNesting = n
		return nil
	}
}

// DefaultMaxColumns is the default bound on the columns of a table (see
// MaxColumns).
const DefaultMaxColumns = 10_000

// MaxColumns bounds the columns of each table (default DefaultMaxColumns,
// 10,000; 0: no bound). A record that would add a column past it is skipped
// as bad input with an error that names the table and the key, and the rest
// of the load goes on: input that uses ids or timestamps as keys becomes a
// clear error per record, not a schema that grows without end. Raise the
// bound only for tables that are wide by design. A producer setting, like
// MaxTableNesting.
func MaxColumns(n int) Option {
	return func(c *destConfig) error {
		if n < 0 {
			return invalid("max columns %d: must be 0 (no bound) or more", n)
		}
		c.maxColumns = n
		return nil
	}
}

// DefaultMaxRecordSize is the default bound on one JSON line of input (see
// MaxRecordSize): 16 MiB.
const DefaultMaxRecordSize = producer.DefaultMaxRecordBytes

// MaxRecordSize bounds one JSON line of io.Reader input, in bytes (default
// DefaultMaxRecordSize, 16 MiB). A longer line is skipped as bad input with
// its line number, without being held in memory, and the rest loads. The
// bound is what the reader may hold per line: about 2 x GOMAXPROCS lines of
// this size can be in memory at once. A producer setting, like MaxColumns.
func MaxRecordSize(bytes int) Option {
	return func(c *destConfig) error {
		if bytes < 1 {
			return invalid("max record size %d: must be at least 1 byte", bytes)
		}
		c.maxRecord = bytes
		return nil
	}
}

// SkipDltColumnsAndTables hides bridge's system columns (_dlt_id,
// _dlt_load_id, _dlt_parent_id, _dlt_list_idx) from the function (default
// true). A column of your own whose name starts with _dlt is always kept.
func SkipDltColumnsAndTables(skip bool) Option {
	return func(c *destConfig) error {
		c.skipSystem = skip
		return nil
	}
}

// MaxParallelLoadJobs sets how many calls may run at once (default 20).
func MaxParallelLoadJobs(n int) Option {
	return func(c *destConfig) error {
		if n < 1 {
			return invalid("max parallel load jobs %d: must be at least 1", n)
		}
		c.maxParallel = n
		return nil
	}
}

// LoaderParallelismStrategy sets which batches may run at once (default Parallel).
func LoaderParallelismStrategy(s Strategy) Option {
	return func(c *destConfig) error {
		if s != Parallel && s != TableSequential && s != Sequential {
			return invalid("loader parallelism strategy %d", int(s))
		}
		c.strategy = s
		return nil
	}
}

// MaxRetries sets the attempts of a failing batch before Run gives up on it
// (default 5). The batch then stays pending for the next Run.
func MaxRetries(n int) Option {
	return func(c *destConfig) error {
		if n < 1 {
			return invalid("max retries %d: must be at least 1", n)
		}
		c.maxRetries = n
		return nil
	}
}

// ReuseRows promises that the destination's function keeps nothing of the
// rows it is given once it returns: not the slice, not a row, not a map,
// slice or interface value inside one. A worker then decodes each batch it
// reads from the stream (another process's, a redelivery, or every batch with
// WithRowCache(0)) into the memory of the batch before (the rule of
// bufio.Scanner.Bytes): 2.5 to 3 times faster for typical events, and next to
// nothing left for the garbage collector. Rows a worker takes from the
// in-process cache are the producer's and are not reused. A value taken out
// of its interface is a copy and may be kept: s := row["name"].(string)
// stays valid. A function that must keep rows keeps CloneRows(rows), a deep
// copy (maps.Clone is not enough: the interface values in a row point into
// reused memory). The built-in destinations use it.
func ReuseRows() Option {
	return func(c *destConfig) error {
		c.reuseRows = true
		return nil
	}
}

// MaxRetryAfter sets how many waits one batch may ask for with
// sink.RetryAfter (an API's "slow down, try in 30 s") before such answers
// count as failed attempts (default 100). Each wait lasts exactly what the
// destination asked.
func MaxRetryAfter(n int) Option {
	return func(c *destConfig) error {
		if n < 0 {
			return invalid("max retry-after waits %d: must be 0 or more", n)
		}
		c.maxRetryAfter = n
		if n == 0 {
			c.maxRetryAfter = -1 // none
		}
		return nil
	}
}

// RetryBackoff sets the first and the longest wait between attempts (default
// 500ms and 10s); waits double and are jittered.
func RetryBackoff(initial, max time.Duration) Option {
	return func(c *destConfig) error {
		if initial <= 0 || max < initial {
			return invalid("retry backoff %v..%v: want 0 < initial <= max", initial, max)
		}
		c.retryInitial, c.retryMax = initial, max
		return nil
	}
}

// OnClose registers fn to be called by Pipeline.Close, to release what the
// destination holds (connections, child processes).
func OnClose(fn func() error) Option {
	return func(c *destConfig) error {
		if fn == nil {
			return invalid("nil close function")
		}
		c.onClose = append(c.onClose, fn)
		return nil
	}
}

// Backfill makes the destination, when it joins a pipeline, start with every
// batch the pipeline's stream still holds; by default a destination starts
// with the loads published after it joined. The stream holds the batches not
// yet acknowledged by every other destination, or, with WithRetention, every
// batch of that period. A destination that is already a member keeps where it
// stands.
func Backfill() Option {
	return func(c *destConfig) error {
		c.backfill = true
		return nil
	}
}
