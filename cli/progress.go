package cli

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fanoutbridge/bridge"
)

// console shares stderr between the progress line and log lines: on a
// terminal the progress line is redrawn in place and a log line first ends
// it; elsewhere (CI logs, files) progress is a plain line every 10 seconds.
type console struct {
	mu    sync.Mutex
	w     io.Writer
	tty   bool
	dirty bool // a progress line is on screen, not ended
	last  time.Time
}

func newConsole(w io.Writer) *console {
	return &console{w: w, tty: isTerminal(w)}
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

// progress shows where a run stands.
func (c *console) progress(pr bridge.Progress) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rate := float64(pr.Delivered) / max(pr.Elapsed.Seconds(), 1e-9)
	line := fmt.Sprintf("%s read %d, queued %d, delivered %d items (%s), %.0f items/s",
		pr.Elapsed.Truncate(time.Second), pr.Read, pr.Produced, pr.Delivered, pluralN(pr.Batches, "batch", "batches"), rate)
	if len(pr.DeliveredBy) > 1 {
		// Several destinations: each at its own pace; the rate is the
		// slowest one's.
		parts := make([]string, 0, len(pr.DeliveredBy))
		for _, name := range slices.Sorted(maps.Keys(pr.DeliveredBy)) {
			parts = append(parts, fmt.Sprintf("%s %d", quoteName(name), pr.DeliveredBy[name]))
		}
		line = fmt.Sprintf("%s read %d, queued %d, delivered items: %s; slowest %.0f items/s",
			pr.Elapsed.Truncate(time.Second), pr.Read, pr.Produced, strings.Join(parts, ", "), rate)
	}
	c.show(line)
}

// produceProgress shows where a producer stands.
func (c *console) produceProgress(pr bridge.Progress) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.show(fmt.Sprintf("%s read %d, stored %d items, %.0f items/s", pr.Elapsed.Truncate(time.Second), pr.Read, pr.Produced,
		float64(pr.Produced)/max(pr.Elapsed.Seconds(), 1e-9)))
}

// serveProgress shows where a worker stands.
func (c *console) serveProgress(pr bridge.Progress) {
	c.mu.Lock()
	defer c.mu.Unlock()
	line := fmt.Sprintf("%s delivered %d items (%s), %.0f items/s", pr.Elapsed.Truncate(time.Second), pr.Delivered,
		pluralN(pr.Batches, "batch", "batches"), float64(pr.Delivered)/max(pr.Elapsed.Seconds(), 1e-9))
	c.show(line)
}

// show puts line on screen: in place on a terminal, else every 10 s.
func (c *console) show(line string) {
	if c.tty {
		fmt.Fprintf(c.w, "\r%s\033[K", line)
		c.dirty = true
		return
	}
	if time.Since(c.last) >= 10*time.Second {
		fmt.Fprintln(c.w, line)
		c.last = time.Now()
	}
}

// done ends the progress line.
func (c *console) done() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.endLine()
}
