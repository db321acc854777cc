package cli

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fanoutbridge/bridge"
)

// console shares stderr between the progress line and log lines: on a
// terminal the progress bar is redrawn in place and a log line first ends
// it; elsewhere (CI logs, files) progress is a plain line every interval
// (--progress-interval, 10 s).
type console struct {
	mu       sync.Mutex
	w        io.Writer
	tty      bool
	interval time.Duration
	dirty    bool // a progress line is on screen, not ended
	last     time.Time
	// size is the input's size in bytes when it is a file (0: unknown);
	// read counts the bytes read from it.
	size int64
	read *atomic.Int64
}

func newConsole(w io.Writer) *console {
	return &console{w: w, tty: isTerminal(w), interval: 10 * time.Second}
}

// setInterval sets how often a plain progress line is printed.
func (c *console) setInterval(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d > 0 {
		c.interval = d
	}
}

// tick is how often the progress should be asked for: every second, or
// more often for a shorter --progress-interval.
func (c *console) tick() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return min(time.Second, c.interval)
}

// countInput wraps the input so the progress knows how much of it was
// read: with size > 0 (a file), it shows a percentage and an ETA.
func (c *console) countInput(in any, size int64) any {
	r, ok := in.(io.Reader)
	if size <= 0 || !ok {
		return in
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.size, c.read = size, new(atomic.Int64)
	return &countingReader{r: r, n: c.read}
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (cr *countingReader) Read(p []byte) (int, error) {
	n, err := cr.r.Read(p)
	cr.n.Add(int64(n))
	return n, err
}

// Write writes a log line, after ending the progress line.
func (c *console) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.endLine()
	return c.w.Write(p)
}

func (c *console) endLine() {
	if c.dirty {
		fmt.Fprintln(c.w)
		c.dirty = false
	}
}

// fraction estimates how much of the work is done, from the share of the
// input read and, of the rows stored, the share done: -1 when the input's
// size is unknown.
func (c *console) fraction(done, stored int64) float64 {
	if c.size <= 0 || c.read == nil {
		return -1
	}
	f := min(float64(c.read.Load())/float64(c.size), 1)
	if stored > 0 {
		f *= min(float64(done)/float64(stored), 1)
	} else if done == 0 {
		f = 0
	}
	return f
}

// progress shows where a run stands.
func (c *console) progress(pr bridge.Progress) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rate := float64(pr.Delivered) / max(pr.Elapsed.Seconds(), 1e-9)
	f := c.fraction(pr.Delivered, pr.Produced)
	var line string
	if len(pr.DeliveredBy) > 1 {
		// Several destinations: each at its own pace; the rate is the
		// slowest one's.
		parts := make([]string, 0, len(pr.DeliveredBy))
		for _, name := range slices.Sorted(maps.Keys(pr.DeliveredBy)) {
			parts = append(parts, fmt.Sprintf("%s %d", quoteName(name), pr.DeliveredBy[name]))
		}
		line = fmt.Sprintf("read %d, queued %d, delivered items: %s; slowest %.0f items/s",
			pr.Read, pr.Produced, strings.Join(parts, ", "), rate)
	} else {
		line = fmt.Sprintf("read %d, queued %d, delivered %d items (%s), %.0f items/s",
			pr.Read, pr.Produced, pr.Delivered, pluralN(pr.Batches, "batch", "batches"), rate)
	}
	c.show(pr.Elapsed, f, line)
}

// produceProgress shows where a producer stands.
func (c *console) produceProgress(pr bridge.Progress) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.fraction(pr.Produced, pr.Produced)
	c.show(pr.Elapsed, f, fmt.Sprintf("read %d, stored %d items, %.0f items/s", pr.Read, pr.Produced,
		float64(pr.Produced)/max(pr.Elapsed.Seconds(), 1e-9)))
}

// serveProgress shows where a worker stands.
func (c *console) serveProgress(pr bridge.Progress) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.show(pr.Elapsed, -1, fmt.Sprintf("delivered %d items (%s), %.0f items/s", pr.Delivered,
		pluralN(pr.Batches, "batch", "batches"), float64(pr.Delivered)/max(pr.Elapsed.Seconds(), 1e-9)))
}

// barWidth is the width of the progress bar on a terminal.
const barWidth = 24

// show puts the progress on screen: on a terminal, a bar (when the share
// done is known, f >= 0) and line, redrawn in place; elsewhere a plain line
// every interval, with the percentage and ETA when known.
func (c *console) show(elapsed time.Duration, f float64, line string) {
	head := elapsed.Truncate(time.Second).String()
	if f >= 0 {
		pct := fmt.Sprintf("%3.0f%%", 100*f)
		eta := "ETA --"
		if f > 0.001 && f < 1 {
			eta = "ETA " + fmtDuration(time.Duration(float64(elapsed)*(1-f)/f))
		} else if f >= 1 {
			eta = "ETA 0s"
		}
		if c.tty {
			fill := int(f * barWidth)
			bar := strings.Repeat("=", fill)
			if fill < barWidth {
				bar += ">" + strings.Repeat(" ", barWidth-fill-1)
			}
			head = fmt.Sprintf("%s [%s] %s %s:", head, bar, pct, eta)
		} else {
			head = fmt.Sprintf("%s (%s, %s)", head, strings.TrimSpace(pct), eta)
		}
	}
	if c.tty {
		fmt.Fprintf(c.w, "\r%s %s\033[K", head, line)
		c.dirty = true
		return
	}
	if c.last.IsZero() || time.Since(c.last) >= c.interval {
		fmt.Fprintf(c.w, "%s %s\n", head, line)
		c.last = time.Now()
	}
}

// fmtDuration writes an ETA: 45s, 3m20s, 1h05m.
func fmtDuration(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return d.String()
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// done ends the progress line.
func (c *console) done() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.endLine()
}
