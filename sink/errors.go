package sink

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

type terminalError struct{ err error }

func (e *terminalError) Error() string { return e.err.Error() }
func (e *terminalError) Unwrap() error { return e.err }

// Terminal marks err as one that retrying will not fix (dlt's
// DestinationTerminalException): the batch, or the row, is dead-lettered.
// Terminal(nil) is nil.
func Terminal(err error) error {
	if err == nil || IsTerminal(err) {
		return err
	}
	return &terminalError{err: err}
}

// IsTerminal reports whether err, or an error it wraps, was marked Terminal.
func IsTerminal(err error) bool {
	var t *terminalError
	return errors.As(err, &t)
}

type retryAfterError struct {
	err   error
	after time.Duration
}

func (e *retryAfterError) Error() string { return e.err.Error() }
func (e *retryAfterError) Unwrap() error { return e.err }

// RetryAfter marks err as a request from the far side to try again after d
// (an HTTP 429 with Retry-After, a throttled API): the batch is tried again
// after exactly d, and the wait is not counted as a failed attempt, up to
// the destination's limit of such waits (bridge.MaxRetryAfter). A negative
// d counts as 0. RetryAfter(nil, d) is nil.
func RetryAfter(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	return &retryAfterError{err: err, after: max(d, 0)}
}

// RetryAfterDelay returns the wait err asks for, if it (or an error it
// wraps) was made by RetryAfter.
func RetryAfterDelay(err error) (time.Duration, bool) {
	var r *retryAfterError
	if errors.As(err, &r) {
		return r.after, true
	}
	return 0, false
}

// RowErrors is the answer of a sink that delivered some rows of a batch
// and not others: the index of each failed row in Batch.Rows, with its
// error. Rows not named are delivered. A row error marked Terminal sends
// the row to the dead-letter stream (with the other terminal rows of the
// call, as one smaller batch carrying each row's error); any other row
// error makes bridge try that row again, alone with the other failed rows.
// A call with some rows of a batch has its own id, the batch's with a
// suffix naming the rows (".r" and 8 hex digits; the same rows get the same
// id), so that an idempotency key the far side kept from the first call
// does not hide the rows sent again. An empty RowErrors means success.
type RowErrors map[int]error

func (e RowErrors) Error() string {
	idx := slices.Sorted(maps.Keys(e))
	var b strings.Builder
	fmt.Fprintf(&b, "%d rows failed", len(idx))
	for n, i := range idx {
		if n == 3 {
			fmt.Fprintf(&b, "; and %d more", len(idx)-n)
			break
		}
		fmt.Fprintf(&b, "; row %d: %v", i, e[i])
	}
	return b.String()
}

// AsRowErrors returns the RowErrors err is or wraps.
func AsRowErrors(err error) (RowErrors, bool) {
	var re RowErrors
	if errors.As(err, &re) {
		return re, true
	}
	return nil, false
}
