package bridge

import (
	"context"
	"errors"
	"strings"
	"testing"
)

type cvConfig struct {
	Host  string `bridge:"cv_host"`
	Port  int    `bridge:"cv_port" default:"5432"`
	Token string `bridge:"cv_token,secret"`
	Mode  string `bridge:"cv_mode,optional"`
}

// ConfigValues (a pipeline config file's sink settings) rank after the
// environment and before the TOML files; a key the config does not have is
// an error naming it and its source; later values win.
func TestConfigValues(t *testing.T) {
	clearKeys(t, "cvdest", "cv_host", "cv_port", "cv_token", "cv_mode")
	dir := writeConfig(t, map[string]string{
		"config.toml":  "[destination.cvdest]\ncv_host = \"from-file\"\ncv_mode = \"file\"\n",
		"secrets.toml": "[destination.cvdest]\ncv_token = \"file-token\"\n",
	})
	t.Setenv("DESTINATION__CVDEST__CV_TOKEN", "env-token")
	d, got := configured[cvConfig](t, "cvdest", dir,
		ConfigValues("p.toml:3", map[string]any{"cv_host": "from-values", "cv_token": "values-token"}),
		ConfigValues("p.toml:4", map[string]any{"cv_port": int64(6543)}),
		ConfigValues("p.toml:9", map[string]any{"cv_port": "7654"}))
	if d.err != nil {
		t.Fatal(d.err)
	}
	want := cvConfig{Host: "from-values", Port: 7654, Token: "env-token", Mode: "file"}
	if got != want {
		t.Fatalf("config %+v, want %+v", got, want)
	}
	srcs := map[string]string{}
	for _, v := range d.ConfigSummary() {
		srcs[v.Key] = v.Source
	}
	if srcs["cv_host"] != "p.toml:3" || srcs["cv_port"] != "p.toml:9" || !strings.HasPrefix(srcs["cv_token"], "env ") {
		t.Fatalf("sources %v", srcs)
	}

	d, _ = configured[cvConfig](t, "cvdest", dir, ConfigValues("p.toml:7", map[string]any{"cv_hots": "x"}))
	if !errors.Is(d.err, ErrInvalidConfig) || !strings.Contains(d.err.Error(), `key "cv_hots" from p.toml:7`) {
		t.Fatalf("unknown key: %v", d.err)
	}
	d, _ = configured[cvConfig](t, "cvdest", dir, ConfigValues("p.toml:8", map[string]any{"cv_port": "many"}))
	var ce *ConfigError
	if !errors.As(d.err, &ce) || ce.Source != "p.toml:8" || ce.Key != "cv_port" {
		t.Fatalf("bad value: %v", d.err)
	}
	// A secret's bad value is not shown.
	type secretInt struct {
		N int `bridge:"cv_n,secret"`
	}
	clearKeys(t, "cvdest", "cv_n")
	ds, _ := configured[secretInt](t, "cvdest", dir, ConfigValues("p.toml:2", map[string]any{"cv_n": "hunter2"}))
	if ds.err == nil || strings.Contains(ds.err.Error(), "hunter2") {
		t.Fatalf("secret bad value: %v", ds.err)
	}
	// Destinations without a config take no values.
	plain := NewDestination("plain", func(_ context.Context, _ []Row, _ Table) error { return nil }, ConfigValues("p.toml:5", map[string]any{"url": "x"}))
	if !errors.Is(plain.err, ErrInvalidConfig) || !strings.Contains(plain.err.Error(), `"url" from p.toml:5`) {
		t.Fatalf("plain destination: %v", plain.err)
	}
	if empty := NewDestination("plain", func(_ context.Context, _ []Row, _ Table) error { return nil }, ConfigValues("p.toml", nil)); empty.err != nil {
		t.Fatalf("no values: %v", empty.err)
	}
}
