package bridge

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// Factory makes a destination from a destination spec "name:arg" (arg is ""
// for a plain "name") with the options a command line or config file gives;
// those options come after the destination's own and win over them.
type Factory func(arg string, opts ...Option) (*Destination, error)

var registry = struct {
	sync.RWMutex
	m map[string]Factory
}{m: map[string]Factory{}}

var registryName = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)

// Register makes a destination factory available by name, so the command
// line (`bridge run --destination name[:arg]`) and config files can refer to
// it. Built-in sinks are registered the same way. Names are lower-case
// letters, digits, '_' and '-'; registering a name twice is an error.
func Register(name string, f Factory) error {
	if !registryName.MatchString(name) {
		return invalid("destination name %q: use lower-case letters, digits, '_' and '-'", name)
	}
	if f == nil {
		return invalid("destination %q: nil factory", name)
	}
	registry.Lock()
	defer registry.Unlock()
	if _, ok := registry.m[name]; ok {
		return invalid("destination %q is already registered", name)
	}
	registry.m[name] = f
	return nil
}

// RegisterDestination registers a ready destination under its own name.
func RegisterDestination(d *Destination) error {
	return Register(d.name, func(arg string, opts ...Option) (*Destination, error) {
		if arg != "" {
			return nil, invalid("destination %q takes no argument (got %q)", d.name, arg)
		}
		return d.With(opts...), nil
	})
}

var destLabel = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// LookupDestination returns the destination a spec names: "name" or
// "name:arg" (e.g. "file:./out", "exec:python3 dest.py"), with opts applied.
// "label=spec" gives the destination the name label (e.g.
// "crm=exec:python3 push.py"): a destination's name keys its progress, dead
// letters and place in the stream, so two destinations of a pipeline need two
// names.
func LookupDestination(spec string, opts ...Option) (*Destination, error) {
	label := ""
	if l, rest, ok := strings.Cut(spec, "="); ok && destLabel.MatchString(l) {
		label, spec = l, rest
	}
	name, arg, _ := strings.Cut(spec, ":")
	registry.RLock()
	f, ok := registry.m[name]
	registry.RUnlock()
	if !ok {
		return nil, invalid("no destination %q is registered (registered: %s)", name, strings.Join(Destinations(), ", "))
	}
	d, err := f(arg, opts...)
	if err != nil {
		return nil, fmt.Errorf("destination %q: %w", spec, err)
	}
	if label != "" {
		d = d.Named(label)
	}
	return d, d.err
}

// Named returns a copy of the destination under another name.
func (d *Destination) Named(name string) *Destination {
	c := *d
	c.name = name
	if name == "" && c.err == nil {
		c.err = fmt.Errorf("%w: destination name is empty", ErrInvalidOption)
	}
	return &c
}

// Destinations returns the registered destination names, sorted.
func Destinations() []string {
	registry.RLock()
	defer registry.RUnlock()
	out := make([]string, 0, len(registry.m))
	for k := range registry.m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// With returns a copy of the destination with more options applied; they
// win over the destination's own.
func (d *Destination) With(opts ...Option) *Destination {
	c := *d
	c.apply(opts)
	return &c
}
