package cli

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

var refRE = regexp.MustCompile(`\$\{([^}]*)\}`)

// expand replaces ${VAR} (or ${env:VAR}) with the environment variable VAR
// and ${secret:a.b.c} with key c of table [a.b] of .bridge/secrets.toml;
// "$${" is a literal "${". interp reports whether anything was replaced:
// such a value is treated as a secret.
func (pf *pipelineFile) expand(s string, secrets *secretsFile) (out string, interp bool, err error) {
	const esc = "\x00lit\x00"
	s = strings.ReplaceAll(s, "$${", esc)
	out = refRE.ReplaceAllStringFunc(s, func(m string) string {
		if err != nil {
			return ""
		}
		ref := m[2 : len(m)-1]
		interp = true
		if name, ok := strings.CutPrefix(ref, "secret:"); ok {
			v, e := secrets.lookup(name)
			if e != nil {
				err = e
			}
			return v
		}
		name := strings.TrimPrefix(ref, "env:")
		v, ok := os.LookupEnv(name)
		if !ok || name == "" {
			err = fmt.Errorf("environment variable %q is not set (referred to as ${%s})", name, ref)
		}
		return v
	})
	return strings.ReplaceAll(out, esc, "${"), interp, err
}

// secretsFile is .bridge/secrets.toml, for ${secret:...} references.
type secretsFile struct {
	path string
	data map[string]any
	read bool
	err  error
}

func (f *secretsFile) lookup(dotted string) (string, error) {
	if !f.read {
		f.read = true
		if _, err := toml.DecodeFile(f.path, &f.data); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				f.err = fmt.Errorf("${secret:%s}: there is no %s", dotted, f.path)
			} else {
				f.err = fmt.Errorf("${secret:%s}: %s does not parse as TOML", dotted, f.path)
			}
		}
	}
	if f.err != nil {
		return "", f.err
	}
	parts := strings.Split(dotted, ".")
	t := f.data
	for _, p := range parts[:len(parts)-1] {
		var ok bool
		if t, ok = t[p].(map[string]any); !ok {
			return "", fmt.Errorf("${secret:%s}: %s has no table [%s]", dotted, f.path, strings.Join(parts[:len(parts)-1], "."))
		}
	}
	switch v := t[parts[len(parts)-1]].(type) {
	case string:
		return v, nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case nil:
		return "", fmt.Errorf("${secret:%s}: %s has no such key", dotted, f.path)
	}
	return "", fmt.Errorf("${secret:%s}: want a string in %s", dotted, f.path)
}
