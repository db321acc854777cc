package bridge

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// ConfigValue is one resolved config field, safe to log: a secret's value
// is "***".
type ConfigValue struct {
	Key    string
	Value  string // the value as text; "***" for a secret that is set
	Secret bool
	// Source is where the value came from: "code", "env <NAME>",
	// "<file> [destination.<name>]" (or "[destination]", "(top level)"),
	// "default", or "" for an optional field nothing set.
	Source string
}

// String renders the value as key=value (source).
func (v ConfigValue) String() string {
	src := v.Source
	if src == "" {
		src = "unset"
	}
	return fmt.Sprintf("%s=%s (%s)", v.Key, v.Value, src)
}

// NewConfiguredDestination returns a destination whose function also
// receives a typed config, resolved once, now, like dlt's
// dlt.secrets.value and dlt.config.value arguments. C is a struct; each of
// its fields tagged `bridge:"key"` is resolved, first hit wins:
//
//  1. a non-zero field of a value passed with WithConfig;
//  2. the environment: DESTINATION__<NAME>__<KEY>, then DESTINATION__<KEY>,
//     then <KEY> (NAME is the destination name upper-cased, other characters
//     than letters and digits becoming _; KEY is the key upper-cased); empty
//     variables count as unset;
//  3. values given with ConfigValues (a pipeline config file's);
//  4. .bridge/secrets.toml, then .bridge/config.toml under the working
//     directory (see ConfigDir), each in section [destination.<name>], then
//     [destination], then at the top level;
//  5. the field's `default:"..."` tag.
//
// Tag options: `bridge:"key,secret"` keeps the value out of logs, errors and
// ConfigSummary; `bridge:"key,optional"` leaves the zero value when nothing
// sets it. Field types: string, bool, ints, uints, floats, time.Duration
// ("30s") and []string (comma-separated in the environment and in TOML
// strings, or a TOML array). Untagged fields are not resolved; they keep
// what WithConfig gave them.
//
// A required field with no value, or a value that does not parse, makes
// NewPipeline fail before any data moves, with an error wrapping
// ErrMissingConfig or ErrInvalidConfig (a *ConfigError per field). fn gets
// the same resolved config on every call, possibly on several goroutines at
// once: treat it as read-only. It takes the options of NewDestination, and
// WithConfig and ConfigDir.
func NewConfiguredDestination[C any](name string, fn func(ctx context.Context, items []Row, table Table, cfg C) error, opts ...Option) *Destination {
	var cfg C // resolved below; the function sees it resolved
	var call Func
	if fn != nil {
		call = func(ctx context.Context, items []Row, table Table) error {
			return fn(ctx, items, table, cfg)
		}
	}
	in := &configInput{dir: ".bridge"}
	d := newDestination(name, call, nil, in, opts)
	if d.err != nil {
		return d
	}
	d.conf, d.err = resolveConfig(name, reflect.ValueOf(&cfg).Elem(), in)
	return d
}

// WithConfig passes config values in code to NewConfiguredDestination: the
// non-zero fields of c win over every other source. c must be of the
// destination's config type. Given more than once, later non-zero fields win.
// Other constructors reject it.
func WithConfig[C any](c C) Option {
	return func(dc *destConfig) error {
		if dc.config == nil {
			return invalid("WithConfig: only NewConfiguredDestination takes config values")
		}
		dc.config.values = append(dc.config.values, c)
		return nil
	}
}

// ConfigDir sets the directory NewConfiguredDestination reads secrets.toml
// and config.toml from (default .bridge under the working directory).
// Other constructors reject it.
func ConfigDir(dir string) Option {
	return func(dc *destConfig) error {
		if dc.config == nil {
			return invalid("ConfigDir: only NewConfiguredDestination reads config files")
		}
		if dir == "" {
			return invalid("config dir is empty")
		}
		dc.config.dir = dir
		return nil
	}
}

// ConfigSummary returns the resolved config of a destination made by
// NewConfiguredDestination, in field order, with secrets shown as "***" and
// where each value came from; nil for other destinations and when
// resolution failed.
func (d *Destination) ConfigSummary() []ConfigValue {
	return slices.Clone(d.conf)
}

// ConfigValues gives a configured destination (NewConfiguredDestination,
// NewConfiguredSink) values for its config keys from a source of your own,
// such as a pipeline config file (bridge run --config): keys as in
// .bridge/config.toml, values as text or as BurntSushi/toml decodes them
// (string, int64, float64, bool, an array of strings). source says where
// they came from (e.g. "pipeline.toml:12"): ConfigSummary and errors show
// it, never a secret's value. They rank after the environment and before
// .bridge/secrets.toml and config.toml; given more than once, later values
// win. A key that is not one of the destination's config keys makes
// NewPipeline fail with an error wrapping ErrInvalidConfig that names the
// key and its source. Destinations without a config reject values.
func ConfigValues(source string, values map[string]any) Option {
	return func(dc *destConfig) error {
		if len(values) == 0 {
			return nil
		}
		if dc.config == nil {
			keys := slices.Sorted(maps.Keys(values))
			return fmt.Errorf("%w: this destination takes no settings, got %s from %s", ErrInvalidConfig, quoteKeys(keys), source)
		}
		dc.config.layers = append(dc.config.layers, configLayer{source: source, values: maps.Clone(values)})
		return nil
	}
}

func quoteKeys(keys []string) string {
	q := make([]string, len(keys))
	for i, k := range keys {
		q[i] = strconv.Quote(k)
	}
	return strings.Join(q, ", ")
}

// configInput collects what WithConfig, ConfigValues and ConfigDir give
// while NewConfiguredDestination applies its options.
type configInput struct {
	values []any
	layers []configLayer
	dir    string
}

// configLayer is one ConfigValues source.
type configLayer struct {
	source string
	values map[string]any
}
