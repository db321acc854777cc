package bridge

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

var (
	// ErrMissingConfig is wrapped by NewPipeline's error when a required
	// config value has no source and no default. The *ConfigError names the
	// environment variable and the TOML key to set.
	ErrMissingConfig = errors.New("bridge: missing config value")
	// ErrInvalidConfig is wrapped by NewPipeline's error when a config value
	// does not parse into its field, or a config file does not parse. The
	// *ConfigError names the key and where the value came from; it never
	// shows a secret's value.
	ErrInvalidConfig = errors.New("bridge: invalid config value")
)

// ConfigError is a config field of a destination that could not be
// resolved: missing (it wraps ErrMissingConfig) or not parseable (it wraps
// ErrInvalidConfig). None of its fields holds a secret's value.
type ConfigError struct {
	Destination string
	Field       string // the Go field name
	Key         string // the field's key, from its bridge tag
	Secret      bool
	Source      string // where the bad value came from, e.g. "env DESTINATION__PG__PORT"; "" when missing
	EnvVar      string // the environment variable to set, DESTINATION__<NAME>__<KEY>
	File        string // the TOML file to set it in: secrets.toml for secrets, config.toml otherwise
	Section     string // the TOML section to set it in, [destination.<name>]
	Err         error  // why the value does not parse (never with a secret's value); nil when missing
}

func (e *ConfigError) Error() string {
	what := fmt.Sprintf("destination %q: field %s (key %q", e.Destination, e.Field, e.Key)
	if e.Secret {
		what += ", secret"
	}
	what += ")"
	if e.Err == nil {
		return fmt.Sprintf("%v: %s: set env %s, or %s %s = ... in %s",
			ErrMissingConfig, what, e.EnvVar, e.Section, e.Key, e.File)
	}
	return fmt.Sprintf("%v: %s from %s: %v", ErrInvalidConfig, what, e.Source, e.Err)
}

// Unwrap returns ErrMissingConfig or ErrInvalidConfig, and the cause.
func (e *ConfigError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrMissingConfig}
	}
	return []error{ErrInvalidConfig, e.Err}
}

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
//  3. .bridge/secrets.toml, then .bridge/config.toml under the working
//     directory (see ConfigDir), each in section [destination.<name>], then
//     [destination], then at the top level;
//  4. the field's `default:"..."` tag.
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

// configInput collects what WithConfig and ConfigDir give while
// NewConfiguredDestination applies its options.
type configInput struct {
	values []any
	dir    string
}

type configField struct {
	index    int
	name     string
	key      string
	secret   bool
	optional bool
	def      string
	hasDef   bool
}

var (
	configKey    = regexp.MustCompile(`^[A-Za-z0-9_]+$`)
	durationType = reflect.TypeFor[time.Duration]()
)

// configFields reads the bridge tags of t.
func configFields(t reflect.Type) ([]configField, error) {
	if t.Kind() != reflect.Struct {
		return nil, invalid("config type %v: want a struct", t)
	}
	var out []configField
	seen := map[string]string{}
	for i := range t.NumField() {
		sf := t.Field(i)
		tag, ok := sf.Tag.Lookup("bridge")
		if !ok || tag == "-" {
			continue
		}
		f := configField{index: i, name: sf.Name}
		key, flags, _ := strings.Cut(tag, ",")
		f.key = key
		for flag := range strings.SplitSeq(flags, ",") {
			switch flag {
			case "":
			case "secret":
				f.secret = true
			case "optional":
				f.optional = true
			default:
				return nil, invalid("config field %s: unknown tag option %q (want secret or optional)", sf.Name, flag)
			}
		}
		switch {
		case !sf.IsExported():
			return nil, invalid("config field %s: tagged but not exported", sf.Name)
		case !configKey.MatchString(key):
			return nil, invalid("config field %s: key %q: use letters, digits and _", sf.Name, key)
		case seen[strings.ToUpper(key)] != "":
			return nil, invalid("config fields %s and %s: same key %q", seen[strings.ToUpper(key)], sf.Name, key)
		case !supportedConfigType(sf.Type):
			return nil, invalid("config field %s: type %v is not supported", sf.Name, sf.Type)
		}
		seen[strings.ToUpper(key)] = sf.Name
		f.def, f.hasDef = sf.Tag.Lookup("default")
		out = append(out, f)
	}
	return out, nil
}

func supportedConfigType(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.String, reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	case reflect.Slice:
		return t.Elem().Kind() == reflect.String
	}
	return false
}

// resolveConfig fills out, a C, from the WithConfig values, the
// environment, the TOML files and the defaults, and returns its summary.
func resolveConfig(dest string, out reflect.Value, in *configInput) ([]ConfigValue, error) {
	fields, err := configFields(out.Type())
	if err != nil {
		return nil, fmt.Errorf("destination %q: %w", dest, err)
	}
	for _, v := range in.values {
		cv := reflect.ValueOf(v)
		if cv.Type() != out.Type() {
			return nil, fmt.Errorf("destination %q: %w", dest,
				invalid("WithConfig(%T): the destination's config type is %v", v, out.Type()))
		}
		for i := range out.NumField() {
			if out.Type().Field(i).IsExported() && !cv.Field(i).IsZero() {
				out.Field(i).Set(cv.Field(i))
			}
		}
	}
	r := &resolver{dest: dest, env: envName(dest), files: []*tomlFile{
		{path: filepath.Join(in.dir, "secrets.toml"), secret: true},
		{path: filepath.Join(in.dir, "config.toml")},
	}}
	var errs []error
	summary := make([]ConfigValue, 0, len(fields))
	for _, f := range fields {
		fv := out.Field(f.index)
		src, err := r.resolve(f, fv)
		var ce *ConfigError
		if err != nil && !errors.As(err, &ce) {
			return nil, err // a config file that does not load: once, not per field
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		summary = append(summary, ConfigValue{Key: f.key, Value: renderConfig(f, fv), Secret: f.secret, Source: src})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return summary, nil
}

type resolver struct {
	dest  string // the destination name
	env   string // its environment form
	files []*tomlFile
}

// resolve sets fv from the first source that has it and returns the source.
func (r *resolver) resolve(f configField, fv reflect.Value) (string, error) {
	if !fv.IsZero() {
		return "code", nil
	}
	for _, name := range r.envVars(f.key) {
		s, ok := os.LookupEnv(name)
		if !ok || s == "" {
			continue
		}
		src := "env " + name
		return src, r.set(f, fv, s, src)
	}
	sections := []struct {
		path  []string
		label string
	}{
		{[]string{"destination", r.dest}, "[destination." + tomlName(r.dest) + "]"},
		{[]string{"destination"}, "[destination]"},
		{nil, "(top level)"},
	}
	for _, file := range r.files {
		if err := file.load(); err != nil {
			return "", fmt.Errorf("destination %q: %w", r.dest, err)
		}
		for _, sec := range sections {
			v, ok := file.lookup(sec.path, f.key)
			if !ok {
				continue
			}
			src := file.path + " " + sec.label
			return src, r.set(f, fv, v, src)
		}
	}
	if f.hasDef {
		return "default", r.set(f, fv, f.def, "default tag")
	}
	if f.optional {
		return "", nil
	}
	return "", r.configError(f, "", nil)
}

func (r *resolver) envVars(key string) []string {
	k := strings.ToUpper(key)
	return []string{"DESTINATION__" + r.env + "__" + k, "DESTINATION__" + k, k}
}

func (r *resolver) configError(f configField, src string, err error) *ConfigError {
	file := r.files[1].path
	if f.secret {
		file = r.files[0].path
	}
	return &ConfigError{
		Destination: r.dest, Field: f.name, Key: f.key, Secret: f.secret, Source: src,
		EnvVar: r.envVars(f.key)[0], File: file, Section: "[destination." + tomlName(r.dest) + "]", Err: err,
	}
}

// set parses raw (a string, or a value decoded from TOML) into fv.
func (r *resolver) set(f configField, fv reflect.Value, raw any, src string) error {
	if err := setConfigValue(fv, raw); err != nil {
		if f.secret {
			err = fmt.Errorf("value hidden: %w", err)
		} else {
			err = fmt.Errorf("%s: %w", showConfigValue(raw), err)
		}
		return r.configError(f, src, err)
	}
	return nil
}

// setConfigValue parses raw into fv. Its errors never contain raw.
func setConfigValue(fv reflect.Value, raw any) error {
	switch x := raw.(type) {
	case string:
		return parseConfigString(fv, x)
	case int64:
		return parseConfigString(fv, strconv.FormatInt(x, 10))
	case float64:
		return parseConfigString(fv, strconv.FormatFloat(x, 'g', -1, 64))
	case bool:
		return parseConfigString(fv, strconv.FormatBool(x))
	case []any:
		if fv.Kind() != reflect.Slice {
			return fmt.Errorf("want %s, got a TOML array", configTypeName(fv.Type()))
		}
		list := make([]string, len(x))
		for i, e := range x {
			s, ok := e.(string)
			if !ok {
				return fmt.Errorf("want an array of strings, got a %T at index %d", e, i)
			}
			list[i] = s
		}
		fv.Set(reflect.ValueOf(list).Convert(fv.Type()))
		return nil
	}
	return fmt.Errorf("want %s, got a TOML %T", configTypeName(fv.Type()), raw)
}

func parseConfigString(fv reflect.Value, s string) error {
	t := fv.Type()
	if t == durationType {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return errors.New("want a duration such as 30s or 1m30s")
		}
		fv.SetInt(int64(d))
		return nil
	}
	var err error
	switch t.Kind() {
	case reflect.String:
		fv.SetString(s)
	case reflect.Bool:
		var b bool
		if b, err = strconv.ParseBool(strings.TrimSpace(s)); err == nil {
			fv.SetBool(b)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var n int64
		if n, err = strconv.ParseInt(strings.TrimSpace(s), 10, t.Bits()); err == nil {
			fv.SetInt(n)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		var n uint64
		if n, err = strconv.ParseUint(strings.TrimSpace(s), 10, t.Bits()); err == nil {
			fv.SetUint(n)
		}
	case reflect.Float32, reflect.Float64:
		var x float64
		if x, err = strconv.ParseFloat(strings.TrimSpace(s), t.Bits()); err == nil {
			fv.SetFloat(x)
		}
	case reflect.Slice:
		var list []string
		for part := range strings.SplitSeq(s, ",") {
			if part = strings.TrimSpace(part); part != "" {
				list = append(list, part)
			}
		}
		fv.Set(reflect.ValueOf(list).Convert(t))
	}
	if err != nil {
		// strconv's errors quote the input; keep only the reason.
		var ne *strconv.NumError
		if errors.As(err, &ne) {
			err = ne.Err
		}
		return fmt.Errorf("want %s: %w", configTypeName(t), err)
	}
	return nil
}

func configTypeName(t reflect.Type) string {
	switch {
	case t == durationType:
		return "a duration"
	case t.Kind() == reflect.Slice:
		return "a list of strings"
	case t.Kind() == reflect.Int || t.Kind() == reflect.Uint:
		return "an " + t.Kind().String()
	}
	return "a " + t.Kind().String()
}

// showConfigValue renders a value that is not secret for an error.
func showConfigValue(raw any) string {
	if s, ok := raw.(string); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprint(raw)
}

// renderConfig renders a resolved field for ConfigSummary.
func renderConfig(f configField, fv reflect.Value) string {
	switch {
	case f.secret && fv.IsZero():
		return ""
	case f.secret:
		return "***"
	case fv.Type() == durationType:
		return time.Duration(fv.Int()).String()
	case fv.Kind() == reflect.Slice:
		return strings.Join(fv.Convert(reflect.TypeFor[[]string]()).Interface().([]string), ",")
	}
	return fmt.Sprint(fv.Interface())
}

// envName is a destination name as it appears in environment variables.
func envName(name string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			return r
		}
		return '_'
	}, name)
}

var tomlBareKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// tomlName is a destination name as a TOML key: bare when it can be.
func tomlName(name string) string {
	if tomlBareKey.MatchString(name) {
		return name
	}
	return strconv.Quote(name)
}

// tomlFile is secrets.toml or config.toml, read on first use. A missing
// file is empty.
type tomlFile struct {
	path   string
	secret bool
	once   bool
	data   map[string]any
	err    error
}

func (f *tomlFile) load() error {
	if f.once {
		return f.err
	}
	f.once = true
	b, err := os.ReadFile(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		f.err = fmt.Errorf("%w: %w", ErrInvalidConfig, err)
		return f.err
	}
	if _, err := toml.Decode(string(b), &f.data); err != nil {
		var pe toml.ParseError
		if !errors.As(err, &pe) {
			f.err = fmt.Errorf("%w: %s: %w", ErrInvalidConfig, f.path, err)
		} else if f.secret {
			// The parser's message may quote the file, and with it a secret.
			f.err = fmt.Errorf("%w: %s: TOML syntax error at line %d, column %d", ErrInvalidConfig, f.path, pe.Position.Line, pe.Position.Col)
		} else {
			f.err = fmt.Errorf("%w: %s: line %d, column %d: %s", ErrInvalidConfig, f.path, pe.Position.Line, pe.Position.Col, pe.Message)
		}
	}
	return f.err
}

// lookup finds key in the table at path; tables are sections, not values.
func (f *tomlFile) lookup(path []string, key string) (any, bool) {
	t := f.data
	for _, p := range path {
		var ok bool
		if t, ok = t[p].(map[string]any); !ok {
			return nil, false
		}
	}
	v, ok := t[key]
	if _, isTable := v.(map[string]any); !ok || isTable {
		return nil, false
	}
	return v, true
}
