package bridge

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The tests use keys no real environment sets, and clear every variable
// they could read first.

// clearEnv unsets the variables for the test's duration.
func clearEnv(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		t.Setenv(n, "") // restores the old value after the test
		os.Unsetenv(n)
	}
}

// clearKeys unsets the three environment forms of each key for destination dest.
func clearKeys(t *testing.T, dest string, keys ...string) {
	t.Helper()
	for _, k := range keys {
		k = strings.ToUpper(k)
		clearEnv(t, "DESTINATION__"+envName(dest)+"__"+k, "DESTINATION__"+k, k)
	}
}

// writeConfig writes files (name -> content) into a new config directory.
func writeConfig(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// configured makes a configured destination reading files from dir and
// returns it with the config its function receives.
func configured[C any](t *testing.T, name, dir string, opts ...Option) (*Destination, C) {
	t.Helper()
	var got C
	d := NewConfiguredDestination(name, func(_ context.Context, _ []Row, _ Table, cfg C) error {
		got = cfg
		return nil
	}, append(opts, ConfigDir(dir))...)
	if d.err == nil {
		if err := d.fn(context.Background(), nil, Table{}); err != nil {
			t.Fatal(err)
		}
	}
	return d, got
}

// source returns where the summary says key came from.
func source(d *Destination, key string) string {
	for _, v := range d.ConfigSummary() {
		if v.Key == key {
			return v.Source
		}
	}
	return "<no such key>"
}

type hostConfig struct {
	Host string `bridge:"cfgtest_host" default:"from-default"`
}

func TestConfigSourcePrecedence(t *testing.T) {
	const name = "my-dest"
	tests := []struct {
		name      string
		code      bool
		env       bool
		secrets   bool
		config    bool
		want      string
		wantSrc   string
		sourceDir bool // wantSrc is relative to the config dir
	}{
		{name: "code wins over env", code: true, env: true, secrets: true, config: true, want: "from-code", wantSrc: "code"},
		{name: "env wins over files", env: true, secrets: true, config: true, want: "from-env", wantSrc: "env DESTINATION__MY_DEST__CFGTEST_HOST"},
		{name: "secrets.toml wins over config.toml", secrets: true, config: true, want: "from-secrets", wantSrc: "secrets.toml [destination.my-dest]", sourceDir: true},
		{name: "config.toml wins over default", config: true, want: "from-config", wantSrc: "config.toml [destination.my-dest]", sourceDir: true},
		{name: "default", want: "from-default", wantSrc: "default"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clearKeys(t, name, "cfgtest_host")
			files := map[string]string{}
			if tc.secrets {
				files["secrets.toml"] = "[destination.my-dest]\ncfgtest_host = \"from-secrets\"\n"
			}
			if tc.config {
				files["config.toml"] = "[destination.my-dest]\ncfgtest_host = \"from-config\"\n"
			}
			dir := writeConfig(t, files)
			if tc.env {
				t.Setenv("DESTINATION__MY_DEST__CFGTEST_HOST", "from-env")
			}
			var opts []Option
			if tc.code {
				opts = append(opts, WithConfig(hostConfig{Host: "from-code"}))
			}
			d, got := configured[hostConfig](t, name, dir, opts...)
			if d.err != nil {
				t.Fatal(d.err)
			}
			if got.Host != tc.want {
				t.Errorf("Host = %q, want %q", got.Host, tc.want)
			}
			want := tc.wantSrc
			if tc.sourceDir {
				want = filepath.Join(dir, want)
			}
			if src := source(d, "cfgtest_host"); src != want {
				t.Errorf("source = %q, want %q", src, want)
			}
		})
	}
}

func TestConfigEnvForms(t *testing.T) {
	const (
		named  = "DESTINATION__PG_MAIN__CFGTEST_HOST"
		shared = "DESTINATION__CFGTEST_HOST"
		bare   = "CFGTEST_HOST"
	)
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"named wins", map[string]string{named: "n", shared: "s", bare: "b"}, named},
		{"shared over bare", map[string]string{shared: "s", bare: "b"}, shared},
		{"bare", map[string]string{bare: "b"}, bare},
		{"empty counts as unset", map[string]string{named: "", shared: "s"}, shared},
		{"none: default", nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clearEnv(t, named, shared, bare)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			// "pg.main" has a character env names cannot hold.
			d, got := configured[hostConfig](t, "pg.main", t.TempDir())
			if d.err != nil {
				t.Fatal(d.err)
			}
			wantSrc, wantVal := "default", "from-default"
			if tc.want != "" {
				wantSrc, wantVal = "env "+tc.want, tc.env[tc.want]
			}
			if got.Host != wantVal || source(d, "cfgtest_host") != wantSrc {
				t.Errorf("got %q from %q, want %q from %q", got.Host, source(d, "cfgtest_host"), wantVal, wantSrc)
			}
		})
	}
}

func TestConfigFileSections(t *testing.T) {
	const (
		named  = "[destination.my-dest]\ncfgtest_host = \"%s-named\"\n"
		shared = "[destination]\ncfgtest_host = \"%s-shared\"\n"
		top    = "cfgtest_host = \"%s-top\"\n"
	)
	// Top-level keys must come before any section.
	file := func(prefix string, parts ...string) string {
		var b strings.Builder
		for _, p := range parts {
			b.WriteString(fmt.Sprintf(p, prefix))
		}
		return b.String()
	}
	tests := []struct {
		name    string
		secrets string
		config  string
		want    string
		wantSrc string
	}{
		{"named section wins", file("s", top, shared, named), "", "s-named", "secrets.toml [destination.my-dest]"},
		{"[destination] over top level", file("s", top, shared), "", "s-shared", "secrets.toml [destination]"},
		{"top level", file("s", top), "", "s-top", "secrets.toml (top level)"},
		{"config.toml named", "", file("c", top, shared, named), "c-named", "config.toml [destination.my-dest]"},
		{"config.toml [destination]", "", file("c", top, shared), "c-shared", "config.toml [destination]"},
		{"config.toml top level", "", file("c", top), "c-top", "config.toml (top level)"},
		{"any level of secrets.toml wins over config.toml", file("s", top), file("c", named), "s-top", "secrets.toml (top level)"},
		{
			"another destination's section is not read",
			"[destination.other]\ncfgtest_host = \"other\"\n", "", "from-default", "default",
		},
		{
			"a table is a section, not a value",
			"[cfgtest_host]\nx = 1\n[destination.cfgtest_host]\ny = 2\n", file("c", top), "c-top", "config.toml (top level)",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clearKeys(t, "my-dest", "cfgtest_host")
			files := map[string]string{}
			if tc.secrets != "" {
				files["secrets.toml"] = tc.secrets
			}
			if tc.config != "" {
				files["config.toml"] = tc.config
			}
			dir := writeConfig(t, files)
			d, got := configured[hostConfig](t, "my-dest", dir)
			if d.err != nil {
				t.Fatal(d.err)
			}
			wantSrc := tc.wantSrc
			if wantSrc != "default" {
				wantSrc = filepath.Join(dir, wantSrc)
			}
			if got.Host != tc.want || source(d, "cfgtest_host") != wantSrc {
				t.Errorf("got %q from %q, want %q from %q", got.Host, source(d, "cfgtest_host"), tc.want, wantSrc)
			}
		})
	}
}

// Mode is a named string type; named types resolve by their kind.
type Mode string

type allTypes struct {
	S   string        `bridge:"cfgtest_s"`
	M   Mode          `bridge:"cfgtest_m"`
	B   bool          `bridge:"cfgtest_b"`
	I   int           `bridge:"cfgtest_i"`
	I8  int8          `bridge:"cfgtest_i8"`
	I64 int64         `bridge:"cfgtest_i64"`
	U   uint          `bridge:"cfgtest_u"`
	U16 uint16        `bridge:"cfgtest_u16"`
	F32 float32       `bridge:"cfgtest_f32"`
	F64 float64       `bridge:"cfgtest_f64"`
	D   time.Duration `bridge:"cfgtest_d"`
	L   []string      `bridge:"cfgtest_l"`
}

var allKeys = []string{
	"cfgtest_s", "cfgtest_m", "cfgtest_b", "cfgtest_i", "cfgtest_i8", "cfgtest_i64", "cfgtest_u",
	"cfgtest_u16", "cfgtest_f32", "cfgtest_f64", "cfgtest_d", "cfgtest_l",
}

func TestConfigTypes(t *testing.T) {
	want := allTypes{
		S: "text", M: "fast", B: true, I: -7, I8: -128, I64: 1 << 40, U: 7, U16: 65535,
		F32: 1.5, F64: -2.25, D: 90 * time.Second, L: []string{"a", "b", "c"},
	}
	const toml = `[destination.types]
cfgtest_s = "text"
cfgtest_m = "fast"
cfgtest_b = true
cfgtest_i = -7
cfgtest_i8 = -128
cfgtest_i64 = 1099511627776
cfgtest_u = 7
cfgtest_u16 = 65535
cfgtest_f32 = 1.5
cfgtest_f64 = -2.25
cfgtest_d = "1m30s"
cfgtest_l = ["a", "b", "c"]
`
	env := map[string]string{
		"cfgtest_s": "text", "cfgtest_m": "fast", "cfgtest_b": "true", "cfgtest_i": "-7", "cfgtest_i8": "-128",
		"cfgtest_i64": "1099511627776", "cfgtest_u": "7", "cfgtest_u16": "65535", "cfgtest_f32": "1.5",
		"cfgtest_f64": "-2.25", "cfgtest_d": "1m30s", "cfgtest_l": "a, b,,c",
	}
	tests := []struct {
		name  string
		env   bool
		files map[string]string
	}{
		{"env", true, nil},
		{"toml", false, map[string]string{"config.toml": toml}},
		{"toml strings", false, map[string]string{"secrets.toml": "[destination.types]\n" +
			"cfgtest_s = \"text\"\ncfgtest_m = \"fast\"\ncfgtest_b = \"true\"\ncfgtest_i = \"-7\"\n" +
			"cfgtest_i8 = \"-128\"\ncfgtest_i64 = \"1099511627776\"\ncfgtest_u = \"7\"\ncfgtest_u16 = \"65535\"\n" +
			"cfgtest_f32 = \"1.5\"\ncfgtest_f64 = \"-2.25\"\ncfgtest_d = \"1m30s\"\ncfgtest_l = \"a,b,c\"\n"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clearKeys(t, "types", allKeys...)
			if tc.env {
				for k, v := range env {
					t.Setenv("DESTINATION__TYPES__"+strings.ToUpper(k), v)
				}
			}
			d, got := configured[allTypes](t, "types", writeConfig(t, tc.files))
			if d.err != nil {
				t.Fatal(d.err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %+v\nwant %+v", got, want)
			}
		})
	}

	t.Run("defaults", func(t *testing.T) {
		type defaults struct {
			S string        `bridge:"cfgtest_s" default:"text"`
			B bool          `bridge:"cfgtest_b" default:"true"`
			I int           `bridge:"cfgtest_i" default:"-7"`
			U uint          `bridge:"cfgtest_u" default:"7"`
			F float64       `bridge:"cfgtest_f64" default:"-2.25"`
			D time.Duration `bridge:"cfgtest_d" default:"250ms"`
			L []string      `bridge:"cfgtest_l" default:"x,y"`
		}
		clearKeys(t, "types", allKeys...)
		d, got := configured[defaults](t, "types", t.TempDir())
		if d.err != nil {
			t.Fatal(d.err)
		}
		want := defaults{S: "text", B: true, I: -7, U: 7, F: -2.25, D: 250 * time.Millisecond, L: []string{"x", "y"}}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got %+v, want %+v", got, want)
		}
		for _, v := range d.ConfigSummary() {
			if v.Source != "default" {
				t.Errorf("%s from %q, want default", v.Key, v.Source)
			}
		}
	})
}

type pgConfig struct {
	Host     string `bridge:"cfgtest_host" default:"localhost"`
	Port     int    `bridge:"cfgtest_port"`
	User     string `bridge:"cfgtest_user,optional"`
	Password string `bridge:"cfgtest_password,secret"`
}

var pgKeys = []string{"cfgtest_host", "cfgtest_port", "cfgtest_user", "cfgtest_password"}

func TestConfigMissing(t *testing.T) {
	clearKeys(t, "pg", pgKeys...)
	dir := t.TempDir()
	d, _ := configured[pgConfig](t, "pg", dir)
	p, err := NewPipeline("config_missing", d, WithDataDir(t.TempDir()))
	if err == nil {
		p.Close()
		t.Fatal("NewPipeline succeeded with required config missing")
	}
	if !errors.Is(err, ErrMissingConfig) {
		t.Fatalf("error %v does not wrap ErrMissingConfig", err)
	}
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("error %v is no *ConfigError", err)
	}
	// Both required fields without a value, each with where to set it; the
	// optional and the defaulted ones not.
	for _, want := range []string{
		"DESTINATION__PG__CFGTEST_PORT",
		"[destination.pg] cfgtest_port = ... in " + filepath.Join(dir, "config.toml"),
		"DESTINATION__PG__CFGTEST_PASSWORD",
		"[destination.pg] cfgtest_password = ... in " + filepath.Join(dir, "secrets.toml"),
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %q:\n%v", want, err)
		}
	}
	for _, notWant := range []string{"cfgtest_user", "cfgtest_host"} {
		if strings.Contains(err.Error(), notWant) {
			t.Errorf("error names %q:\n%v", notWant, err)
		}
	}
	if d.ConfigSummary() != nil {
		t.Errorf("ConfigSummary of a failed resolution = %v, want nil", d.ConfigSummary())
	}

	t.Run("optional stays zero", func(t *testing.T) {
		t.Setenv("CFGTEST_PORT", "5432")
		t.Setenv("CFGTEST_PASSWORD", "pw")
		d, got := configured[pgConfig](t, "pg", dir)
		if d.err != nil {
			t.Fatal(d.err)
		}
		if got.User != "" || source(d, "cfgtest_user") != "" {
			t.Errorf("optional User = %q from %q, want unset", got.User, source(d, "cfgtest_user"))
		}
	})
}

func TestConfigBadValue(t *testing.T) {
	const secret = "hunter2-s3cr3t"
	type pinConfig struct {
		Pin   int           `bridge:"cfgtest_pin,secret"`
		Port  int           `bridge:"cfgtest_port,optional"`
		Delay time.Duration `bridge:"cfgtest_delay,secret,optional"`
	}
	tests := []struct {
		name    string
		env     map[string]string
		files   map[string]string
		wantSrc string // in the error; "<dir>" is the config dir
		wantVal string // shown in the error ("" for none)
	}{
		{"secret int from env", map[string]string{"DESTINATION__X__CFGTEST_PIN": secret}, nil, "env DESTINATION__X__CFGTEST_PIN", ""},
		{"secret int from secrets.toml", nil, map[string]string{"secrets.toml": "[destination.x]\ncfgtest_pin = \"" + secret + "\"\n"}, "<dir>/secrets.toml [destination.x]", ""},
		{"secret int from a TOML array", nil, map[string]string{"config.toml": "cfgtest_pin = [\"" + secret + "\"]\n"}, "<dir>/config.toml (top level)", ""},
		{"secret duration", map[string]string{"DESTINATION__CFGTEST_PIN": "1", "CFGTEST_DELAY": secret}, nil, "env CFGTEST_DELAY", ""},
		{"secrets.toml syntax error", nil, map[string]string{"secrets.toml": "cfgtest_pin = " + secret + "\n"}, "<dir>/secrets.toml: TOML syntax error", ""},
		{"plain value is shown", map[string]string{"DESTINATION__X__CFGTEST_PIN": "1", "DESTINATION__X__CFGTEST_PORT": "eighty"}, nil, "env DESTINATION__X__CFGTEST_PORT", `"eighty"`},
		{"out of range", map[string]string{"DESTINATION__X__CFGTEST_PIN": "1", "DESTINATION__X__CFGTEST_PORT": "99999999999999999999"}, nil, "env DESTINATION__X__CFGTEST_PORT", "value out of range"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clearKeys(t, "x", "cfgtest_pin", "cfgtest_port", "cfgtest_delay")
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			dir := writeConfig(t, tc.files)
			d, _ := configured[pinConfig](t, "x", dir)
			_, err := NewPipeline("config_bad", d, WithDataDir(t.TempDir()))
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("error %v does not wrap ErrInvalidConfig", err)
			}
			assertNoSecret(t, secret, err, d, d.ConfigSummary())
			// Once: a file that does not parse is one error, not one per field.
			if want := strings.ReplaceAll(tc.wantSrc, "<dir>", dir); strings.Count(err.Error(), want) != 1 {
				t.Errorf("error does not name the source %q once:\n%v", want, err)
			}
			if tc.wantVal != "" && !strings.Contains(err.Error(), tc.wantVal) {
				t.Errorf("error does not show %q:\n%v", tc.wantVal, err)
			}
		})
	}
}

// assertNoSecret fails if any rendering of the values shows secret.
func assertNoSecret(t *testing.T, secret string, values ...any) {
	t.Helper()
	for _, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			if s := fmt.Sprintf(verb, v); strings.Contains(s, secret) {
				t.Errorf("%s of %T shows the secret: %s", verb, v, s)
			}
		}
	}
}

func TestConfigSummary(t *testing.T) {
	const secret = "p4ssw0rd-value"
	clearKeys(t, "pg", pgKeys...)
	t.Setenv("DESTINATION__PG__CFGTEST_PASSWORD", secret)
	dir := writeConfig(t, map[string]string{"config.toml": "[destination]\ncfgtest_port = 5432\n"})
	d, got := configured[pgConfig](t, "pg", dir, WithConfig(pgConfig{Host: "db.internal"}))
	if d.err != nil {
		t.Fatal(d.err)
	}
	if got.Password != secret {
		t.Fatalf("Password not resolved: got %d characters", len(got.Password))
	}
	want := []ConfigValue{
		{Key: "cfgtest_host", Value: "db.internal", Source: "code"},
		{Key: "cfgtest_port", Value: "5432", Source: filepath.Join(dir, "config.toml") + " [destination]"},
		{Key: "cfgtest_user", Value: ""},
		{Key: "cfgtest_password", Value: "***", Secret: true, Source: "env DESTINATION__PG__CFGTEST_PASSWORD"},
	}
	if s := d.ConfigSummary(); !reflect.DeepEqual(s, want) {
		t.Errorf("ConfigSummary() =\n%v\nwant\n%v", s, want)
	}
	if s := want[3].String(); s != "cfgtest_password=*** (env DESTINATION__PG__CFGTEST_PASSWORD)" {
		t.Errorf("String() = %q", s)
	}
	if s := want[2].String(); s != "cfgtest_user= (unset)" {
		t.Errorf("String() = %q", s)
	}
	assertNoSecret(t, secret, d, *d, d.ConfigSummary(), d.ConfigSummary()[3], d.With(BatchSize(3)))

	t.Run("secret from code", func(t *testing.T) {
		d, _ := configured[pgConfig](t, "pg", dir, WithConfig(pgConfig{Password: secret}))
		if d.err != nil {
			t.Fatal(d.err)
		}
		if v := d.ConfigSummary()[3]; v.Value != "***" || v.Source != "code" {
			t.Errorf("password summary = %+v", v)
		}
		assertNoSecret(t, secret, d, d.ConfigSummary())
	})

	t.Run("the summary is a copy", func(t *testing.T) {
		d.ConfigSummary()[0].Value = "changed"
		if d.ConfigSummary()[0].Value != "db.internal" {
			t.Error("changing the returned summary changed the destination's")
		}
	})

	t.Run("none for other destinations", func(t *testing.T) {
		plain := NewDestination("plain", func(context.Context, []Row, Table) error { return nil })
		if s := plain.ConfigSummary(); s != nil {
			t.Errorf("ConfigSummary() = %v, want nil", s)
		}
	})
}

func TestConfigResolvedOnce(t *testing.T) {
	clearKeys(t, "once", "cfgtest_host")
	t.Setenv("CFGTEST_HOST", "first")
	var calls []string
	d := NewConfiguredDestination("once", func(_ context.Context, _ []Row, _ Table, cfg hostConfig) error {
		calls = append(calls, cfg.Host)
		return nil
	}, ConfigDir(t.TempDir()))
	t.Setenv("CFGTEST_HOST", "second")
	for range 2 {
		if err := d.fn(context.Background(), nil, Table{}); err != nil {
			t.Fatal(err)
		}
	}
	if want := []string{"first", "first"}; !reflect.DeepEqual(calls, want) {
		t.Errorf("calls saw %v, want %v", calls, want)
	}
}

func TestConfigWithConfig(t *testing.T) {
	type withExtra struct {
		Host   string           `bridge:"cfgtest_host"`
		Port   int              `bridge:"cfgtest_port" default:"1"`
		Client *struct{ N int } // untagged: only from code
	}
	clearKeys(t, "w", "cfgtest_host", "cfgtest_port")
	t.Setenv("CFGTEST_HOST", "env-host")
	client := &struct{ N int }{N: 3}
	d, got := configured[withExtra](t, "w", t.TempDir(),
		WithConfig(withExtra{Host: "first", Port: 2}),
		WithConfig(withExtra{Host: "second", Client: client}))
	if d.err != nil {
		t.Fatal(d.err)
	}
	if got.Host != "second" || got.Port != 2 || got.Client != client {
		t.Errorf("got %+v: want the later non-zero fields to win, untagged fields kept", got)
	}
}

func TestConfigInvalid(t *testing.T) {
	noop := func(context.Context, []Row, Table) error { return nil }
	tests := []struct {
		name string
		d    func(t *testing.T) *Destination
		want error
	}{
		{"not a struct", func(t *testing.T) *Destination {
			d, _ := configured[string](t, "x", t.TempDir())
			return d
		}, ErrInvalidOption},
		{"unknown tag option", func(t *testing.T) *Destination {
			d, _ := configured[struct {
				A string `bridge:"cfgtest_a,secrte"`
			}](t, "x", t.TempDir())
			return d
		}, ErrInvalidOption},
		{"unsupported type", func(t *testing.T) *Destination {
			d, _ := configured[struct {
				A []int `bridge:"cfgtest_a"`
			}](t, "x", t.TempDir())
			return d
		}, ErrInvalidOption},
		{"bad key", func(t *testing.T) *Destination {
			d, _ := configured[struct {
				A string `bridge:"cfgtest-a"`
			}](t, "x", t.TempDir())
			return d
		}, ErrInvalidOption},
		{"empty key", func(t *testing.T) *Destination {
			d, _ := configured[struct {
				A string `bridge:",secret"`
			}](t, "x", t.TempDir())
			return d
		}, ErrInvalidOption},
		{"same key twice", func(t *testing.T) *Destination {
			d, _ := configured[struct {
				A string `bridge:"cfgtest_a"`
				B string `bridge:"CFGTEST_A"`
			}](t, "x", t.TempDir())
			return d
		}, ErrInvalidOption},
		{"unexported field", func(t *testing.T) *Destination {
			d, _ := configured[struct {
				a string `bridge:"cfgtest_a"`
			}](t, "x", t.TempDir())
			return d
		}, ErrInvalidOption},
		{"bad default", func(t *testing.T) *Destination {
			clearKeys(t, "x", "cfgtest_a")
			d, _ := configured[struct {
				A int `bridge:"cfgtest_a" default:"many"`
			}](t, "x", t.TempDir())
			return d
		}, ErrInvalidConfig},
		{"WithConfig of another type", func(t *testing.T) *Destination {
			d, _ := configured[hostConfig](t, "x", t.TempDir(), WithConfig(pgConfig{}))
			return d
		}, ErrInvalidOption},
		{"WithConfig on NewDestination", func(t *testing.T) *Destination {
			return NewDestination("x", noop, WithConfig(hostConfig{}))
		}, ErrInvalidOption},
		{"ConfigDir on NewDestination", func(t *testing.T) *Destination {
			return NewDestination("x", noop, ConfigDir("dir"))
		}, ErrInvalidOption},
		{"empty ConfigDir", func(t *testing.T) *Destination {
			return NewConfiguredDestination("x", func(context.Context, []Row, Table, hostConfig) error { return nil }, ConfigDir(""))
		}, ErrInvalidOption},
		{"nil function", func(t *testing.T) *Destination {
			return NewConfiguredDestination[hostConfig]("x", nil)
		}, ErrInvalidOption},
		{"other options still checked", func(t *testing.T) *Destination {
			d, _ := configured[hostConfig](t, "x", t.TempDir(), BatchSize(0))
			return d
		}, ErrInvalidOption},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.d(t)
			_, err := NewPipeline("config_invalid", d, WithDataDir(t.TempDir()))
			if !errors.Is(err, tc.want) {
				t.Errorf("NewPipeline error = %v, want one wrapping %v", err, tc.want)
			}
		})
	}
}

func TestConfigOptionsApply(t *testing.T) {
	clearKeys(t, "opts", "cfgtest_host")
	d, _ := configured[hostConfig](t, "opts", t.TempDir(), BatchSize(3), LoaderParallelismStrategy(Sequential))
	if d.err != nil {
		t.Fatal(d.err)
	}
	if d.cfg.batchSize != 3 || d.cfg.strategy != Sequential || d.Name() != "opts" {
		t.Errorf("options not applied: %+v", d.cfg)
	}
}

// A setting given for this destination alone that is not one of its keys
// (a typo) fails, naming the key and where it is; shared places may hold
// other destinations' keys and are not checked.
func TestConfigUnknownKeys(t *testing.T) {
	dir := writeConfig(t, map[string]string{"config.toml": "[destination]\nother_key = 1\n\n[destination.my-dest]\ncfgtest_hots = \"typo\"\n"})
	d, _ := configured[hostConfig](t, "my-dest", dir)
	if !errors.Is(d.err, ErrInvalidConfig) || !strings.Contains(d.err.Error(), `key "cfgtest_hots"`) ||
		!strings.Contains(d.err.Error(), "[destination.my-dest]") || !strings.Contains(d.err.Error(), "cfgtest_host") {
		t.Errorf("typo in the named section: %v", d.err)
	}
	t.Setenv("DESTINATION__ENV_DEST__CFGTEST_HOTS", "typo")
	d, _ = configured[hostConfig](t, "env-dest", writeConfig(t, nil))
	if !errors.Is(d.err, ErrInvalidConfig) || !strings.Contains(d.err.Error(), "DESTINATION__ENV_DEST__CFGTEST_HOTS") {
		t.Errorf("typo in an environment variable: %v", d.err)
	}
	// [destination] and the top level hold other destinations' keys.
	d, got := configured[hostConfig](t, "fine", dir)
	if d.err != nil || got.Host != "from-default" {
		t.Errorf("shared keys: %v, %+v", d.err, got)
	}
}
