package bridge

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/fanoutbridge/bridge/queue"
)

// noPipeline is Open's error for a pipeline that does not exist. It wraps
// ErrNoPipeline and names the pipelines that do: those on the server when
// nc is given (the external one, or the embedded store of the data
// directory), else the directories beside the data directory that hold a
// store (~/.bridge/pipelines by default).
func (p *Pipeline) noPipeline(ctx context.Context, nc *nats.Conn) error {
	var names []string
	var where string
	switch {
	case nc == nil:
		parent := filepath.Dir(p.cfg.dataDir)
		names, where = localPipelines(parent), "in "+parent
	case p.cfg.natsURL == "":
		names, _ = queue.Pipelines(ctx, nc)
		where = "in the store at " + p.cfg.dataDir
	default:
		names, _ = queue.Pipelines(ctx, nc)
		where = "on " + redactURL(p.cfg.natsURL)
	}
	return fmt.Errorf("%w %q %s (%s)", ErrNoPipeline, p.name, where, pipelineList(names))
}

// localPipelines returns the pipelines of the embedded stores in the
// directories under parent: a pipeline whose store is not in a directory of
// its own name comes with the --data-dir that reaches it.
func localPipelines(parent string) []string {
	entries, err := os.ReadDir(parent)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		dir := filepath.Join(parent, e.Name())
		if !e.IsDir() || !queue.HasStore(dir) {
			continue
		}
		names := queue.StorePipelines(dir)
		if len(names) == 0 {
			names = []string{e.Name()} // a layout not known: its directory's name
		}
		for _, n := range names {
			if n != e.Name() {
				// Not in its own default directory: say where.
				n += " (--data-dir " + dir + ")"
			}
			out = append(out, n)
		}
	}
	return out
}

// pipelineList says which pipelines exist, in a bounded line.
func pipelineList(names []string) string {
	const most = 10
	switch {
	case len(names) == 0:
		return "no pipelines here"
	case len(names) > most:
		return fmt.Sprintf("pipelines here: %s and %d more", strings.Join(names[:most], ", "), len(names)-most)
	}
	return "pipelines here: " + strings.Join(names, ", ")
}
