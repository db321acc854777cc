package exec

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	osexec "os/exec"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

const (
	// drainWait is how long a dead program's pipes get to deliver what is
	// still in them (a last answer, the last stderr lines).
	drainWait = time.Second
	// killWait bounds the wait for a SIGKILLed program to be reaped.
	killWait = 5 * time.Second
	// maxLogLine cuts stderr lines for the logger; tailLines and tailLen
	// bound the stderr kept for error messages.
	maxLogLine = 64 << 10
	tailLines  = 10
	tailLen    = 300
)

// proc is one running copy of the program. Its owner (the slot holding it)
// calls exchange, idleCheck, fail and stop, one at a time; abort may be
// called from any goroutine.
type proc struct {
	cmd *osexec.Cmd
	pid int
	log *zap.Logger

	stdin  *os.File // write end of the program's stdin
	stdout *os.File // read end of its stdout
	stderr *os.File // read end of its stderr

	lines      chan outLine  // non-blank stdout lines; closed when stdout ends
	exited     chan struct{} // closed when the process is reaped; state is set before
	stderrDone chan struct{} // closed when the stderr reader returns
	quit       chan struct{} // closed at teardown: the stdout reader stops sending
	state      *os.ProcessState

	abortOnce sync.Once
	aborted   chan struct{} // closed by abort
	abortErr  error         // why abort was called; set before aborted is closed
	stdinOnce sync.Once
	downOnce  sync.Once

	mu   sync.Mutex
	tail []string // the last stderr lines, oldest first
}

// outLine is a line of the program's stdout, or err when it broke the
// protocol (a line too long).
type outLine struct {
	b   []byte
	err error
}

// stopError is an abort that is not the program's fault: the caller's
// context ended, or the sink is closing.
type stopError struct{ err error }

func (e stopError) Error() string { return e.err.Error() }
func (e stopError) Unwrap() error { return e.err }

// start starts the program. Its three goroutines (reaper, stdout reader,
// stderr reader) run in wg and end once the program has ended and
// stopReaders was called.
func start(cfg *Config, log *zap.Logger, wg *sync.WaitGroup) (*proc, error) {
	var files []*os.File // every pipe end, closed if starting fails
	pipe := func() (r, w *os.File, err error) {
		r, w, err = os.Pipe()
		files = append(files, r, w)
		return r, w, err
	}
	closeAll := func() {
		for _, f := range files {
			if f != nil {
				_ = f.Close()
			}
		}
	}
	inR, inW, err := pipe()
	if err != nil {
		closeAll()
		return nil, fmt.Errorf("stdin pipe: %w", err)
	}
	outR, outW, err := pipe()
	if err != nil {
		closeAll()
		return nil, fmt.Errorf("stdout pipe: %w", err)
	}
	errR, errW, err := pipe()
	if err != nil {
		closeAll()
		return nil, fmt.Errorf("stderr pipe: %w", err)
	}

	cmd := osexec.Command(cfg.Argv[0], cfg.Argv[1:]...)
	cmd.Dir, cmd.Env = cfg.Dir, cfg.Env
	// *os.File stdio is handed to the child as is: no copying goroutines,
	// and Wait leaves our ends of the pipes alone.
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, errW
	ownGroup(cmd)
	if err := cmd.Start(); err != nil {
		closeAll()
		return nil, fmt.Errorf("start %s: %w", cfg.Argv[0], err)
	}
	// The child holds its ends now; ours would keep the pipes open.
	_ = inR.Close()
	_ = outW.Close()
	_ = errW.Close()

	p := &proc{
		cmd:        cmd,
		pid:        cmd.Process.Pid,
		log:        log,
		stdin:      inW,
		stdout:     outR,
		stderr:     errR,
		lines:      make(chan outLine),
		exited:     make(chan struct{}),
		stderrDone: make(chan struct{}),
		quit:       make(chan struct{}),
		aborted:    make(chan struct{}),
	}
	wg.Go(p.reap)
	wg.Go(p.readStdout)
	wg.Go(p.readStderr)
	log.Debug("destination program started", zap.Int("pid", p.pid))
	return p, nil
}

func (p *proc) reap() {
	_ = p.cmd.Wait() // the state says it all
	p.state = p.cmd.ProcessState
	close(p.exited)
}

func (p *proc) readStdout() {
	defer close(p.lines)
	r := bufio.NewReaderSize(p.stdout, 64<<10)
	for {
		line, tooLong, err := readLine(r, maxAnswer)
		var out outLine
		switch {
		case tooLong:
			out.err = fmt.Errorf("%w: answer longer than %d bytes", ErrProtocol, maxAnswer)
		case len(bytes.TrimSpace(line)) > 0:
			out.b = line
		}
		if out.b != nil || out.err != nil {
			select {
			case p.lines <- out:
			case <-p.quit:
				return
			}
		}
		if err != nil || out.err != nil {
			return
		}
	}
}

func (p *proc) readStderr() {
	defer close(p.stderrDone)
	r := bufio.NewReaderSize(p.stderr, 4096)
	for {
		line, tooLong, err := readLine(r, maxLogLine)
		if len(line) > 0 {
			s := string(line)
			fields := []zap.Field{zap.Int("pid", p.pid), zap.String("line", s)}
			if tooLong {
				fields = append(fields, zap.Bool("truncated", true))
			}
			p.log.Info("destination program stderr", fields...)
			p.remember(s)
		}
		if err != nil {
			return
		}
	}
}

// readLine reads one line without its "\n" or "\r\n", as a fresh slice. A
// line longer than limit is cut to limit and the rest skipped; tooLong says
// so. At the end of the input it returns what is left, and the error.
func readLine(r *bufio.Reader, limit int) (line []byte, tooLong bool, err error) {
	n := 0
	for {
		frag, err := r.ReadSlice('\n')
		n += len(frag)
		if room := limit + 1 - len(line); room > 0 { // +1: room for the '\n'
			line = append(line, frag[:min(len(frag), room)]...)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == nil {
			n-- // the '\n'
		}
		line = bytes.TrimSuffix(line, []byte("\n"))
		if n > limit {
			line = line[:limit]
			tooLong = true
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		return line, tooLong, err
	}
}

// remember keeps s among the last stderr lines.
func (p *proc) remember(s string) {
	if len(s) > tailLen {
		s = strings.ToValidUTF8(s[:tailLen], "") + "..."
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.tail) == tailLines {
		copy(p.tail, p.tail[1:])
		p.tail = p.tail[:tailLines-1]
	}
	p.tail = append(p.tail, s)
}

func (p *proc) lastStderr() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.tail...)
}

// abort kills the program and closes its stdin, which ends a Write blocked
// on a full pipe. The first reason given wins.
func (p *proc) abort(reason error) {
	p.abortOnce.Do(func() {
		p.abortErr = reason
		close(p.aborted)
		killTree(p.cmd.Process)
		p.closeStdin()
	})
}

func (p *proc) closeStdin() { p.stdinOnce.Do(func() { _ = p.stdin.Close() }) }

// exchange sends one encoded batch and reads the answer. err is the
// program's verdict (nil or a *ProgramError), or the failure of the attempt:
// a *ProcessError, or the context's error or ErrClosed when ctx ended or the
// sink is closing. down reports that the process is gone and must be
// replaced.
func (p *proc) exchange(ctx, sinkCtx context.Context, id string, payload []byte, timeout time.Duration) (down bool, err error) {
	timer := time.AfterFunc(timeout, func() {
		p.abort(fmt.Errorf("%w: no answer within %v", ErrTimeout, timeout))
	})
	stopCtx := context.AfterFunc(ctx, func() { p.abort(stopError{ctx.Err()}) })
	stopClose := context.AfterFunc(sinkCtx, func() { p.abort(stopError{ErrClosed}) })
	disarmed, fired := false, false
	// disarm stops the three watchers and reports whether one of them fired
	// (and so aborts the process, now or in a moment).
	disarm := func() bool {
		if !disarmed {
			disarmed = true
			t, c, cl := timer.Stop(), stopCtx(), stopClose() // all three, always
			fired = !t || !c || !cl
		}
		return fired
	}
	defer disarm()

	if _, err := p.stdin.Write(payload); err != nil {
		return true, p.fail(fmt.Errorf("%w: writing the batch: %w", ErrExited, err))
	}
	var (
		out outLine
		ok  bool
	)
	select {
	case out, ok = <-p.lines:
	case <-p.aborted:
		return true, p.fail(nil)
	case <-p.exited:
		// The answer may still be in the pipe.
		select {
		case out, ok = <-p.lines:
		case <-p.aborted:
			return true, p.fail(nil)
		case <-time.After(drainWait):
			return true, p.fail(fmt.Errorf("%w before the answer", ErrExited))
		}
	}
	switch {
	case !ok:
		return true, p.fail(fmt.Errorf("%w: stdout ended before the answer", ErrExited))
	case out.err != nil:
		return true, p.fail(out.err)
	}
	err = parseAnswer(out.b, id)
	if errors.Is(err, ErrProtocol) {
		return true, p.fail(err)
	}
	if disarm() {
		// A watcher fired as the answer came: the answer stands, but the
		// program is being killed.
		_ = p.fail(nil)
		return true, err
	}
	return false, err
}

// idleCheck reports why a process that held no batch cannot take one: it
// exited, or wrote to stdout between batches.
func (p *proc) idleCheck() error {
	select {
	case <-p.aborted:
		return p.abortErr
	case <-p.exited:
		return fmt.Errorf("%w between batches", ErrExited)
	case out, ok := <-p.lines:
		switch {
		case !ok:
			return fmt.Errorf("%w: stdout ended between batches", ErrExited)
		case out.err != nil:
			return out.err
		}
		return fmt.Errorf("%w: output between batches: %s", ErrProtocol, quoteLine(out.b))
	default:
		return nil
	}
}

// fail kills the program for reason (unless an abort came first, whose
// reason wins), reaps it and returns the error for the attempt.
func (p *proc) fail(reason error) error {
	p.abort(reason)
	if reason = p.abortErr; reason == nil {
		reason = errors.New("killed")
	}
	p.wait(killWait)
	p.stopReaders()
	var stop stopError
	if errors.As(reason, &stop) {
		return stop.err
	}
	return &ProcessError{PID: p.pid, Err: reason, Status: p.status(), Stderr: p.lastStderr()}
}

// stop ends an idle program: it closes its stdin, waits until deadline for
// it to exit, then kills it. It returns an error if the program had to be
// killed or did not exit cleanly.
func (p *proc) stop(deadline time.Time) error {
	p.closeStdin()
	var err error
	if !p.wait(time.Until(deadline)) {
		p.abort(errors.New("stopped"))
		p.wait(killWait)
		err = errors.New("did not exit after its stdin closed; killed")
	} else if !p.state.Success() {
		err = errors.New("exited with an error after its stdin closed")
	}
	killTree(p.cmd.Process) // whatever it left behind in its group
	p.stopReaders()
	if err != nil {
		return &ProcessError{PID: p.pid, Err: err, Status: p.status(), Stderr: p.lastStderr()}
	}
	return nil
}

// wait waits up to d for the process to be reaped.
func (p *proc) wait(d time.Duration) bool {
	select {
	case <-p.exited:
		return true
	default:
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.exited:
		return true
	case <-t.C:
		return false
	}
}

// stopReaders lets stderr drain, then closes our ends of the pipes and waits
// for both readers to return.
func (p *proc) stopReaders() {
	p.downOnce.Do(func() {
		t := time.NewTimer(drainWait)
		select {
		case <-p.stderrDone:
		case <-t.C:
		}
		t.Stop()
		close(p.quit)
		p.closeStdin()
		_ = p.stdout.Close()
		_ = p.stderr.Close()
		for range p.lines { // drain until the reader closes it
		}
		<-p.stderrDone
	})
}

func (p *proc) status() string {
	select {
	case <-p.exited:
		return p.state.String()
	default:
		return "not reaped after SIGKILL"
	}
}
