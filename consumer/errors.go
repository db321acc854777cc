package consumer

import (
	"errors"
	"fmt"
)

// terminalError marks an error that retrying will not fix.
type terminalError struct{ err error }

func (e *terminalError) Error() string { return e.err.Error() }
func (e *terminalError) Unwrap() error { return e.err }

// Terminal marks err terminal: the batch is not retried but dead-lettered.
// Terminal(nil) is nil.
func Terminal(err error) error {
	if err == nil || IsTerminal(err) {
		return err
	}
	return &terminalError{err: err}
}

// IsTerminal reports whether err, or any error it wraps, was marked Terminal.
func IsTerminal(err error) bool {
	var t *terminalError
	return errors.As(err, &t)
}

// RetriesError is returned when a batch failed every attempt. The batch stays
// pending and is loaded first by the next run.
type RetriesError struct {
	Table    string
	BatchID  string
	Attempts int
	Err      error
}

func (e *RetriesError) Error() string {
	return fmt.Sprintf("table %q batch %s failed %d attempts and stays pending (run the pipeline again to retry it): %v",
		e.Table, e.BatchID, e.Attempts, e.Err)
}

func (e *RetriesError) Unwrap() error { return e.Err }

// PanicError is a panic in the destination, recovered and treated as a
// transient error.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("destination panicked: %v", e.Value) }
