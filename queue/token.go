package queue

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"regexp"
)

var plainToken = regexp.MustCompile(`^[A-Za-z0-9-][A-Za-z0-9_-]{0,63}$`)

var b32 = base32.NewEncoding("0123456789abcdefghijklmnopqrstuv").WithPadding(base32.NoPadding)

// Token returns a NATS subject token for a table name. Names made of letters,
// digits, '_' and '-' (not starting with '_', up to 64 bytes) are used as they
// are; other short names are base32-encoded behind "_b"; long ones become "_h"
// and a SHA-256 digest. Distinct names give distinct tokens. The real name
// travels in the Bridge-Table header.
func Token(name string) string {
	if plainToken.MatchString(name) {
		return name
	}
	if len(name) <= 60 {
		return "_b" + b32.EncodeToString([]byte(name))
	}
	sum := sha256.Sum256([]byte(name))
	return "_h" + hex.EncodeToString(sum[:20])
}

var pipelineName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidPipelineName reports an error unless name can name streams and buckets:
// 1 to 64 letters, digits, '_' or '-'.
func ValidPipelineName(name string) error {
	if !pipelineName.MatchString(name) {
		return fmt.Errorf("pipeline name %q: use 1 to 64 letters, digits, '_' or '-'", name)
	}
	return nil
}
