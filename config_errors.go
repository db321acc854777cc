package bridge

import (
	"errors"
	"fmt"
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
