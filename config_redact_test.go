package bridge

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigTOMLSyntaxErrorHidesValues breaks the TOML around a secret's
// value in every way the parser quotes what it read: the error names the
// file, line and column, and shows no piece of the value.
func TestConfigTOMLSyntaxErrorHidesValues(t *testing.T) {
	const secret = "QZXJVKWMPB"
	type cfg struct {
		Password string `bridge:"cfgtest_password,secret"`
	}
	docs := []struct {
		name, doc string
		line      int
	}{
		{"bare value", "[destination.x]\ncfgtest_password = " + secret + "\n", 2},
		{"unterminated string", "[destination.x]\ncfgtest_password = \"" + secret + "\nother = 1\n", 2},
		{"unterminated literal string", "cfgtest_password = '" + secret + "\n", 1},
		{"bad escape", "cfgtest_password = \"" + secret[:3] + "\\q" + secret[3:] + "\"\n", 1},
		{"text after the string", "cfgtest_password = \"x\" " + secret + "\n", 1},
		{"value starting with digits", "cfgtest_password = 12" + secret + "\n", 1},
		{"in an array", "cfgtest_password = [\"x\", " + secret + "]\n", 1},
		{"in an inline table", "cfgtest_password = {a = \"x\" " + secret + "}\n", 1},
		{"bad date", "cfgtest_password = 2026-01-0" + secret + "\n", 1},
		{"secret as a key", secret + " = = 1\n", 1},
	}
	for _, file := range []string{"secrets.toml", "config.toml"} {
		for _, tc := range docs {
			t.Run(file+"/"+tc.name, func(t *testing.T) {
				clearKeys(t, "x", "cfgtest_password")
				dir := writeConfig(t, map[string]string{file: tc.doc})
				d, _ := configured[cfg](t, "x", dir)
				_, err := NewPipeline("config_toml", d, WithDataDir(t.TempDir()))
				if !errors.Is(err, ErrInvalidConfig) {
					t.Fatalf("error %v does not wrap ErrInvalidConfig", err)
				}
				want := fmt.Sprintf("%s: TOML syntax error at line %d, column ", filepath.Join(dir, file), tc.line)
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error does not say %q:\n%v", want, err)
				}
				for _, v := range []any{err, d, d.ConfigSummary()} {
					for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
						s := strings.ReplaceAll(fmt.Sprintf(verb, v), dir, "<dir>")
						for i := 0; i+3 <= len(secret); i++ {
							if strings.Contains(s, secret[i:i+3]) {
								t.Fatalf("%s of %T shows %q of the value: %s", verb, v, secret[i:i+3], s)
							}
						}
						for i := range len(secret) {
							if c := "'" + secret[i:i+1] + "'"; strings.Contains(s, c) {
								t.Fatalf("%s of %T shows %s of the value: %s", verb, v, c, s)
							}
						}
					}
				}
			})
		}
	}
}
