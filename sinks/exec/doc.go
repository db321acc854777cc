// Package exec hands batches to an external program: a destination written in
// any language, named on the command line as "exec:CMD ARGS".
//
// A Sink keeps up to Workers copies of the program running. For each batch it
// writes one header line and one JSON line per row to a program's stdin and
// reads exactly one answer line from its stdout; the program's stderr goes to
// the logger line by line. A program that exits, stops answering in time or
// breaks the protocol is killed and started again for the next attempt; the
// attempt fails with a transient *ProcessError. An answer that says
// "terminal" fails the batch with an error marked sink.Terminal, so it is
// dead-lettered instead of retried.
//
// The wire protocol is specified in docs/exec-protocol.md, with example
// destinations in Python and POSIX sh.
package exec
