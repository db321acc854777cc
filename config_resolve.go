package bridge

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
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
	known := map[string]bool{}
	for _, f := range fields {
		known[f.key] = true
	}
	for _, l := range in.layers {
		for _, k := range slices.Sorted(maps.Keys(l.values)) {
			if !known[k] {
				keys := make([]string, len(fields))
				for i, f := range fields {
					keys[i] = f.key
				}
				return nil, fmt.Errorf("%w: destination %q: key %q from %s is not one of its settings (%s)",
					ErrInvalidConfig, dest, k, l.source, strings.Join(keys, ", "))
			}
		}
	}
	r := &resolver{dest: dest, env: envName(dest), layers: in.layers, files: []*tomlFile{
		{path: filepath.Join(in.dir, "secrets.toml"), secret: true},
		{path: filepath.Join(in.dir, "config.toml")},
	}}
	if err := r.unknownKeys(known, fields); err != nil {
		return nil, err
	}
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
	dest   string // the destination name
	env    string // its environment form
	layers []configLayer
	files  []*tomlFile
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
	for i := len(r.layers) - 1; i >= 0; i-- {
		if v, ok := r.layers[i].values[f.key]; ok {
			src := r.layers[i].source
			return src, r.set(f, fv, v, src)
		}
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

// unknownKeys fails on a setting given for this destination alone (its
// [destination.<name>] sections, its DESTINATION__<NAME>__<KEY> variables)
// that is not one of its keys: a typo would otherwise be ignored, and the
// default used. Shared places ([destination], the top level, bare
// variables) may hold other destinations' keys and are not checked.
func (r *resolver) unknownKeys(known map[string]bool, fields []configField) error {
	keys := make([]string, len(fields))
	for i, f := range fields {
		keys[i] = f.key
	}
	list := strings.Join(keys, ", ")
	prefix := "DESTINATION__" + r.env + "__"
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if k, ok := strings.CutPrefix(name, prefix); ok && !known[strings.ToLower(k)] {
			return fmt.Errorf("%w: destination %q: environment variable %s is not one of its settings (keys: %s)",
				ErrInvalidConfig, r.dest, name, list)
		}
	}
	for _, file := range r.files {
		if err := file.load(); err != nil {
			return fmt.Errorf("destination %q: %w", r.dest, err)
		}
		sec, ok := file.data["destination"].(map[string]any)
		if !ok {
			continue
		}
		own, ok := sec[r.dest].(map[string]any)
		if !ok {
			continue
		}
		for _, k := range slices.Sorted(maps.Keys(own)) {
			if !known[k] {
				return fmt.Errorf("%w: destination %q: %s [destination.%s]: key %q is not one of its settings (keys: %s)",
					ErrInvalidConfig, r.dest, file.path, tomlName(r.dest), k, list)
			}
		}
	}
	return nil
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
		// The parser's messages quote the file (expected value but found
		// "hunter" instead; invalid datetime: "2026-01-0"; the last key), and
		// a value in either file may be a secret: say where, never what.
		var pe toml.ParseError
		if errors.As(err, &pe) {
			f.err = fmt.Errorf("%w: %s: TOML syntax error at line %d, column %d", ErrInvalidConfig, f.path, pe.Position.Line, pe.Position.Col)
		} else {
			f.err = fmt.Errorf("%w: %s: not valid TOML", ErrInvalidConfig, f.path)
		}
		f.data = nil
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
