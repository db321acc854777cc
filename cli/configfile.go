package cli

import (
	"errors"
	"flag"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/fanoutbridge/bridge"
	"github.com/fanoutbridge/bridge/consumer"
)

// A pipeline config file (--config FILE) describes a pipeline in TOML: where
// it runs, its input, how it normalizes, and its destinations with their
// settings. Each key stands for a flag; a flag given on the command line
// wins over the file. See README "Pipeline config files".

// keyKind is the TOML type a key takes.
type keyKind int

const (
	kindString keyKind = iota
	kindInt
	kindBool
	kindDuration // a string such as "10s"
	kindSize     // an integer of bytes, or a string such as "64MiB"
)

func (k keyKind) String() string {
	switch k {
	case kindInt:
		return "an integer"
	case kindBool:
		return "true or false"
	case kindDuration:
		return `a duration string such as "10s"`
	case kindSize:
		return `a size: bytes as an integer, or a string such as "64MiB"`
	}
	return "a string"
}

// fileKey is one key of the file: the flag it sets.
type fileKey struct {
	flag   string // "" when the key has no flag (set in common directly)
	kind   keyKind
	secret bool // never shown
}

// fileSections are the keys of the file outside the destinations, by
// section ("" the top level).
var fileSections = map[string]map[string]fileKey{
	"": {
		"pipeline":          {flag: "pipeline"},
		"data_dir":          {flag: "data-dir"},
		"nats_url":          {flag: "nats-url", secret: true},
		"nats_creds_file":   {flag: "nats-creds"},
		"nats_nkey_file":    {flag: "nats-nkey"},
		"nats_tls_ca":       {flag: "nats-tls-ca"},
		"nats_user":         {secret: true},
		"nats_password":     {secret: true},
		"nats_token":        {secret: true},
		"replicas":          {flag: "replicas", kind: kindInt},
		"log_level":         {flag: "log-level"},
		"log_format":        {flag: "log-format"},
		"metrics_addr":      {flag: "metrics-addr"},
		"progress_interval": {flag: "progress-interval", kind: kindDuration},
		"quiet":             {flag: "quiet", kind: kindBool},
		"shutdown_timeout":  {flag: "shutdown-timeout", kind: kindDuration},
		"keep_loads":        {flag: "keep-loads", kind: kindInt},
		"retention":         {flag: "retention"},
		"max_idle":          {flag: "max-idle", kind: kindDuration},
	},
	"input": {
		"path":            {flag: "input"},
		"table":           {flag: "table"},
		"table_field":     {flag: "table-field"},
		"max_record_size": {flag: "max-record-size", kind: kindSize},
	},
	"normalize": {
		"naming":           {flag: "naming"},
		"max_nesting":      {flag: "max-nesting", kind: kindInt},
		"max_columns":      {flag: "max-columns", kind: kindInt},
		"skip_dlt_columns": {flag: "skip-dlt-columns", kind: kindBool},
		"format":           {flag: "format"},
		"flush_interval":   {flag: "flush-interval", kind: kindDuration},
		"batch_bytes":      {flag: "batch-bytes", kind: kindSize},
	},
	// delivery: defaults for every destination of the file.
	"delivery": destKeys,
}

// destKeys are the delivery settings of a destination; its other keys are
// the sink's own settings.
var destKeys = map[string]fileKey{
	"batch_size":   {flag: "batch-size", kind: kindInt},
	"max_parallel": {flag: "max-parallel", kind: kindInt},
	"strategy":     {flag: "strategy"},
	"max_retries":  {flag: "max-retries", kind: kindInt},
	"max_crashes":  {flag: "max-crashes", kind: kindInt},
	"backfill":     {flag: "backfill", kind: kindBool},
}

// fileValue is a value of the file, as flag text.
type fileValue struct {
	key    string // dotted, as written: input.path
	line   int
	text   string
	secret bool
}

// fileDest is one destination of the file.
type fileDest struct {
	name     string // its label, "" when it has none (named by its spec)
	spec     string // name[:arg], without the label
	key      string // destination[0] or destination.crm
	line     int
	delivery map[string]fileValue // by flag name
	settings map[string]fileValue // the sink's own, by key
}

// pipelineFile is a loaded pipeline config file.
type pipelineFile struct {
	path   string
	values map[string]fileValue // by flag name
	extra  map[string]fileValue // keys without a flag (nats_user, ...)
	dests  []fileDest
	// applied are the flags the file set (the command line did not).
	applied map[string]fileValue
}

// errf is an error about the file: file, line and key, exit status 2.
func (pf *pipelineFile) errf(line int, key, format string, args ...any) error {
	where := pf.path
	if line > 0 {
		where += ":" + strconv.Itoa(line)
	}
	return usagef("%s: %s: %s", where, key, fmt.Sprintf(format, args...))
}

// loadPipelineFile reads and checks a pipeline config file: syntax, unknown
// keys, types, NATS URL, metrics address and destinations that are not
// registered. Values such as naming or batch sizes are checked where the
// flags' are, and their errors name the file's key (see explain).
func loadPipelineFile(path string) (*pipelineFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, usagef("--config: %v", err)
	}
	pf := &pipelineFile{path: path, values: map[string]fileValue{}, extra: map[string]fileValue{}, applied: map[string]fileValue{}}
	var raw map[string]any
	if _, err := toml.Decode(string(data), &raw); err != nil {
		// The parser's message may quote a value: say where, not what.
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, usagef("%s:%d: TOML syntax error at column %d (see the TOML spec: keys are name = value, strings in quotes)", path, pe.Position.Line, pe.Position.Col)
		}
		return nil, usagef("%s: not valid TOML", path)
	}
	lines := keyLines(data)
	secrets := &secretsFile{path: filepath.Join(".bridge", "secrets.toml")}
	for _, k := range slices.Sorted(maps.Keys(raw)) {
		v := raw[k]
		if k == "destination" {
			if err := pf.loadDests(v, lines, secrets); err != nil {
				return nil, err
			}
			continue
		}
		if sec, ok := v.(map[string]any); ok && k != "" {
			keys, known := fileSections[k]
			if !known || k == "" {
				return nil, pf.errf(lines[k], "["+k+"]", "unknown section (sections: [input], [normalize], [delivery], [[destination]])")
			}
			for _, sk := range slices.Sorted(maps.Keys(sec)) {
				fk, ok := keys[sk]
				if !ok {
					return nil, pf.errf(lines[k+"."+sk], k+"."+sk, "unknown key (keys of [%s]: %s)", k, strings.Join(slices.Sorted(maps.Keys(keys)), ", "))
				}
				fv, err := pf.value(k+"."+sk, lines[k+"."+sk], sec[sk], fk, secrets)
				if err != nil {
					return nil, err
				}
				pf.values[fk.flag] = fv
			}
			continue
		}
		fk, ok := fileSections[""][k]
		if !ok {
			return nil, pf.errf(lines[k], k, "unknown key (top-level keys: %s; sections: [input], [normalize], [delivery], [[destination]])",
				strings.Join(slices.Sorted(maps.Keys(fileSections[""])), ", "))
		}
		fv, err := pf.value(k, lines[k], v, fk, secrets)
		if err != nil {
			return nil, err
		}
		if fk.flag == "" {
			pf.extra[k] = fv
		} else {
			pf.values[fk.flag] = fv
		}
	}
	if err := pf.check(); err != nil {
		return nil, err
	}
	return pf, nil
}

// check checks what is wrong whatever the command: the NATS URL, the
// metrics address, credentials without a URL.
func (pf *pipelineFile) check() error {
	if v, ok := pf.values["nats-url"]; ok {
		if err := checkNATSURL(v.text); err != nil {
			return pf.errf(v.line, v.key, "%s", strings.TrimPrefix(err.Error(), "--nats-url: "))
		}
	}
	if v, ok := pf.values["metrics-addr"]; ok {
		if err := checkMetricsAddr(v.text); err != nil {
			return pf.errf(v.line, v.key, "%v", err)
		}
	}
	_, hasURL := pf.values["nats-url"]
	for _, k := range []string{"nats_user", "nats_password", "nats_token"} {
		if v, ok := pf.extra[k]; ok && !hasURL {
			return pf.errf(v.line, v.key, "goes with nats_url (the embedded server needs no credentials)")
		}
	}
	if _, ok := pf.extra["nats_password"]; ok {
		if _, ok := pf.extra["nats_user"]; !ok {
			v := pf.extra["nats_password"]
			return pf.errf(v.line, v.key, "needs nats_user too")
		}
	}
	return nil
}

// checkMetricsAddr checks a --metrics-addr: host:port, host may be empty.
func checkMetricsAddr(s string) error {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q: want host:port or :port, e.g. :9090 or 127.0.0.1:9090", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q: the port is not a number from 0 to 65535", s)
	}
	return nil
}

// loadDests reads [[destination]] or [destination.<label>] tables.
func (pf *pipelineFile) loadDests(v any, lines map[string]int, secrets *secretsFile) error {
	type entry struct {
		key, label string
		t          map[string]any
	}
	var entries []entry
	switch x := v.(type) {
	case []map[string]any:
		for i, t := range x {
			entries = append(entries, entry{key: fmt.Sprintf("destination[%d]", i), t: t})
		}
	case map[string]any:
		for _, label := range slices.Sorted(maps.Keys(x)) {
			t, ok := x[label].(map[string]any)
			if !ok {
				return pf.errf(lines["destination."+label], "destination."+label,
					"want a table [destination.%s] with spec = \"...\", or write destinations as [[destination]]", label)
			}
			entries = append(entries, entry{key: "destination." + label, label: label, t: t})
		}
		// In the file's order.
		slices.SortStableFunc(entries, func(a, b entry) int { return lines[a.key] - lines[b.key] })
	default:
		return pf.errf(lines["destination"], "destination", "want [[destination]] tables or [destination.<label>] tables")
	}
	names := map[string]string{}
	for _, e := range entries {
		d := fileDest{key: e.key, line: lines[e.key], name: e.label, delivery: map[string]fileValue{}, settings: map[string]fileValue{}}
		for _, k := range slices.Sorted(maps.Keys(e.t)) {
			full := e.key + "." + k
			line := lines[full]
			val := e.t[k]
			switch k {
			case "spec", "type", "arg", "name":
				fv, err := pf.value(full, line, val, fileKey{}, secrets)
				if err != nil {
					return err
				}
				switch k {
				case "spec":
					d.spec = fv.text
				case "type":
					if d.spec == "" {
						d.spec = fv.text
					} else {
						d.spec = fv.text + d.spec // arg came first
					}
				case "arg":
					d.spec += ":" + fv.text
				case "name":
					if e.label != "" && fv.text != e.label {
						return pf.errf(line, full, "the table's label %q names this destination already", e.label)
					}
					d.name = fv.text
				}
				continue
			}
			if fk, ok := destKeys[k]; ok {
				fv, err := pf.value(full, line, val, fk, secrets)
				if err != nil {
					return err
				}
				d.delivery[fk.flag] = fv
				continue
			}
			if _, isTable := val.(map[string]any); isTable {
				return pf.errf(line, full, "a destination's settings are plain keys, not tables")
			}
			fv, err := pf.setting(full, line, val, secrets)
			if err != nil {
				return err
			}
			d.settings[k] = fv
		}
		_, hasSpec := e.t["spec"]
		_, hasType := e.t["type"]
		switch {
		case hasSpec && hasType:
			return pf.errf(d.line, e.key, "give spec or type, not both")
		case !hasSpec && !hasType && e.label != "" && slices.Contains(bridge.Destinations(), e.label):
			// [destination.kafka] with the sink's settings only, as in
			// .bridge/config.toml: the label is the type.
			d.spec = e.label + d.spec
			hasType = true
		case !hasSpec && !hasType:
			return pf.errf(d.line, e.key, `no spec: add spec = "file:./out" (or type = "kafka"); destinations: %s`, strings.Join(bridge.Destinations(), ", "))
		case hasSpec && e.t["arg"] != nil:
			return pf.errf(lines[e.key+".arg"], e.key+".arg", "goes with type, not spec (write spec = \"name:arg\")")
		}
		if l, rest, ok := strings.Cut(d.spec, "="); ok && destLabelRE.MatchString(l) {
			if d.name != "" && d.name != l {
				return pf.errf(lines[e.key+".spec"], e.key+".spec", "the spec's label %q and the name %q differ", l, d.name)
			}
			d.name, d.spec = l, rest
		}
		kind, _, _ := strings.Cut(d.spec, ":")
		if !slices.Contains(bridge.Destinations(), kind) {
			key := e.key + ".spec"
			if hasType {
				key = e.key + ".type"
			}
			return pf.errf(lines[key], key, "no destination %q (destinations: %s)", kind, strings.Join(bridge.Destinations(), ", "))
		}
		if d.name != "" && !destLabelRE.MatchString(d.name) {
			return pf.errf(d.line, e.key, "name %q: use letters, digits, _ and -", d.name)
		}
		id := d.name
		if id == "" {
			id = d.spec
		}
		if prev, ok := names[id]; ok {
			return pf.errf(d.line, e.key, "destination %q is given twice (first at %s); name one of them: name = \"...\"", id, prev)
		}
		names[id] = e.key
		pf.dests = append(pf.dests, d)
	}
	return nil
}

var destLabelRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// value reads one value of a known key as flag text.
func (pf *pipelineFile) value(key string, line int, v any, fk fileKey, secrets *secretsFile) (fileValue, error) {
	fv := fileValue{key: key, line: line, secret: fk.secret}
	bad := func() (fileValue, error) {
		return fileValue{}, pf.errf(line, key, "want %s, got %s", fk.kind, tomlTypeName(v))
	}
	switch fk.kind {
	case kindString, kindDuration:
		s, ok := v.(string)
		if !ok {
			return bad()
		}
		s, interp, err := pf.expand(s, secrets)
		if err != nil {
			return fileValue{}, pf.errf(line, key, "%v", err)
		}
		fv.secret = fv.secret || interp
		if fk.kind == kindDuration {
			if _, err := time.ParseDuration(s); err != nil {
				return fileValue{}, pf.errf(line, key, "want %s", fk.kind)
			}
		}
		fv.text = s
	case kindInt:
		n, ok := v.(int64)
		if !ok {
			return bad()
		}
		fv.text = strconv.FormatInt(n, 10)
	case kindBool:
		b, ok := v.(bool)
		if !ok {
			return bad()
		}
		fv.text = strconv.FormatBool(b)
	case kindSize:
		switch x := v.(type) {
		case int64:
			fv.text = strconv.FormatInt(x, 10)
		case string:
			if _, err := parseSizeMin(x, 0); err != nil { // the flag checks its least
				return fileValue{}, pf.errf(line, key, "%v", err)
			}
			fv.text = x
		default:
			return bad()
		}
	}
	return fv, nil
}

// setting reads a sink setting: its TOML value, with ${...} expanded in
// strings, as text for ConfigValues.
func (pf *pipelineFile) setting(key string, line int, v any, secrets *secretsFile) (fileValue, error) {
	fv := fileValue{key: key, line: line}
	switch x := v.(type) {
	case string:
		s, interp, err := pf.expand(x, secrets)
		if err != nil {
			return fileValue{}, pf.errf(line, key, "%v", err)
		}
		fv.text, fv.secret = s, interp
	case int64:
		fv.text = strconv.FormatInt(x, 10)
	case float64:
		fv.text = strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		fv.text = strconv.FormatBool(x)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			s, ok := e.(string)
			if !ok {
				return fileValue{}, pf.errf(line, key, "want an array of strings, got %s at index %d", tomlTypeName(e), i)
			}
			s, interp, err := pf.expand(s, secrets)
			if err != nil {
				return fileValue{}, pf.errf(line, key, "%v", err)
			}
			if strings.Contains(s, ",") {
				return fileValue{}, pf.errf(line, key, "item %d has a comma, which separates items", i)
			}
			parts[i], fv.secret = s, fv.secret || interp
		}
		fv.text = strings.Join(parts, ",")
	default:
		return fileValue{}, pf.errf(line, key, "want a string, number, boolean or array of strings, got %s", tomlTypeName(v))
	}
	return fv, nil
}

func tomlTypeName(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	case time.Time:
		return "a date-time"
	}
	return fmt.Sprintf("a %T", v)
}

// apply sets every flag of fs the file has a value for and the command line
// did not set. Keys for flags this command does not have are left out (a
// worker's serve takes no [input]).
func (pf *pipelineFile) apply(fs *flag.FlagSet) error {
	cli := visited(fs)
	for _, name := range slices.Sorted(maps.Keys(pf.values)) {
		v := pf.values[name]
		if cli[name] || fs.Lookup(name) == nil {
			continue
		}
		if err := fs.Set(name, v.text); err != nil {
			return pf.errf(v.line, v.key, "%v", err)
		}
		pf.applied[name] = v
	}
	return nil
}

// explain rewrites an error about a flag the file set so that it names the
// file, the line and the key instead of the flag.
func (pf *pipelineFile) explain(err error) error {
	if pf == nil || err == nil {
		return err
	}
	var ue *usageError
	if !errors.As(err, &ue) {
		return err
	}
	for name, v := range pf.applied {
		rest, ok := strings.CutPrefix(ue.msg, "--"+name)
		if !ok || rest != "" && rest[0] != ' ' && rest[0] != ':' {
			continue
		}
		if v.secret {
			// Only the reason: the value may be a secret.
			if _, why, ok := strings.Cut(rest, ": "); ok {
				return pf.errf(v.line, v.key, "%s", why)
			}
			return pf.errf(v.line, v.key, "invalid value")
		}
		return pf.errf(v.line, v.key, "%s", strings.TrimLeft(rest, " :"))
	}
	return err
}

// parseSize reads a size of at least 1 byte: bytes, or a number with KiB,
// MiB, GiB, KB, MB or GB.
func parseSize(s string) (int, error) { return parseSizeMin(s, 1) }

// parseSizeMin is parseSize for sizes of at least min (0 or 1) bytes.
func parseSizeMin(s string, min int64) (int, error) {
	t := strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if n, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = strings.TrimSpace(n), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < min || n > (1<<40)/mult {
		least := "at least 1 byte"
		if min == 0 {
			least = "0 or more bytes"
		}
		return 0, fmt.Errorf("%q: want a size such as 16777216, 64MiB or 1GiB (%s)", s, least)
	}
	return int(n * mult), nil
}

// natsAuth returns the NATS credentials the file gives by value (user and
// password, token), beside the flags' files.
func (pf *pipelineFile) natsAuth() (user, password, token string) {
	if pf == nil {
		return "", "", ""
	}
	return pf.extra["nats_user"].text, pf.extra["nats_password"].text, pf.extra["nats_token"].text
}

// destOptions returns the options of a file destination: its delivery
// settings, with the checks of their flags, and its sink settings.
func (pf *pipelineFile) destOptions(d fileDest) ([]bridge.Option, int, error) {
	var opts []bridge.Option
	crashes := -1
	for _, name := range slices.Sorted(maps.Keys(d.delivery)) {
		v := d.delivery[name]
		bad := func(want string) error { return pf.errf(v.line, v.key, "%s: want %s", v.text, want) }
		n, _ := strconv.Atoi(v.text)
		switch name {
		case "batch-size":
			if n < 1 {
				return nil, 0, bad("1 or more")
			}
			opts = append(opts, bridge.BatchSize(n), bridge.FileMaxItems(n))
		case "max-parallel":
			if n < 1 {
				return nil, 0, bad("1 or more")
			}
			opts = append(opts, bridge.MaxParallelLoadJobs(n))
		case "max-retries":
			if n < 1 {
				return nil, 0, bad("1 or more")
			}
			opts = append(opts, bridge.MaxRetries(n))
		case "max-crashes":
			if n < 0 {
				return nil, 0, bad("0 or more")
			}
			crashes = n
		case "strategy":
			s, err := consumer.ParseStrategy(v.text)
			if err != nil {
				return nil, 0, pf.errf(v.line, v.key, "%q: want parallel, table-sequential or sequential", v.text)
			}
			opts = append(opts, bridge.LoaderParallelismStrategy(s))
		case "backfill":
			if v.text == "true" {
				opts = append(opts, bridge.Backfill())
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(d.settings)) {
		v := d.settings[k]
		opts = append(opts, bridge.ConfigValues(fmt.Sprintf("%s:%d", pf.path, v.line), map[string]any{k: v.text}))
	}
	return opts, crashes, nil
}
