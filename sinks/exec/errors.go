package exec

import (
	"errors"
	"strconv"
	"strings"
)

var (
	// ErrInvalidConfig is wrapped by the errors of Config.Validate, New and
	// ParseCommand.
	ErrInvalidConfig = errors.New("exec: invalid config")
	// ErrClosed is returned by Write once Close has begun.
	ErrClosed = errors.New("exec: sink closed")

	// ErrExited means the program exited, or closed its stdout or stdin,
	// while it held a batch.
	ErrExited = errors.New("program exited or closed its stdio")
	// ErrTimeout means the program did not answer within Config.Timeout.
	ErrTimeout = errors.New("program did not answer in time")
	// ErrProtocol means the program wrote something other than the answer
	// to the batch it held: not JSON, a wrong batch id, a malformed answer.
	ErrProtocol = errors.New("program broke the protocol")
)

// ProgramError is the error a program answered for a batch. When Terminal is
// set, Write returns it marked sink.Terminal.
type ProgramError struct {
	Batch    string
	Message  string
	Terminal bool
}

func (e *ProgramError) Error() string {
	if e.Terminal {
		return "destination program (terminal): " + e.Message
	}
	return "destination program: " + e.Message
}

// ProcessError is a failed attempt because the program itself misbehaved: it
// exited, broke the protocol or timed out. The program was killed and is
// started again for the next attempt. The error is transient.
type ProcessError struct {
	PID int
	// Err says what happened; it wraps ErrExited, ErrTimeout or ErrProtocol,
	// and the I/O error, if any.
	Err error
	// Status is how the process ended, as os.ProcessState prints it:
	// "exit status 3", "signal: killed".
	Status string
	// Stderr holds the last lines the program wrote to stderr, oldest first.
	Stderr []string
}

func (e *ProcessError) Error() string {
	var b strings.Builder
	b.WriteString("destination program")
	if e.PID > 0 {
		b.WriteString(" (pid ")
		b.WriteString(strconv.Itoa(e.PID))
		b.WriteString(")")
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	if e.Status != "" {
		b.WriteString("; ")
		b.WriteString(e.Status)
	}
	if len(e.Stderr) > 0 {
		b.WriteString("; last stderr: ")
		b.WriteString(strings.Join(e.Stderr, " | "))
	}
	return b.String()
}

func (e *ProcessError) Unwrap() error { return e.Err }
