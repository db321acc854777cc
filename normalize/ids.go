package normalize

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	mrand "math/rand/v2"
	"strconv"
)

// idBytes is dlt's DLT_ID_LENGTH_BYTES: a row id carries 10 bytes, 14
// characters of unpadded base64.
const (
	idBytes = 10
	idChars = 14
	// idChunk is how many random ids are made at once: one allocation of
	// idChunk*idChars bytes backs them all.
	idChunk = 128
)

// ids makes _dlt_id values: random ones for root rows and deterministic
// digests for child rows. It is not safe for concurrent use.
type ids struct {
	rng   *mrand.ChaCha8
	ready string // unused random ids, idChars each
	raw   [idChunk * idBytes]byte
	enc   [idChunk * idChars]byte
	buf   []byte
}

func newIDs() *ids {
	var seed [32]byte
	rand.Read(seed[:]) // never returns an error (crypto/rand, Go 1.24+)
	return &ids{rng: mrand.NewChaCha8(seed)}
}

// root returns a random row id: 10 bytes from a ChaCha8 generator seeded
// from crypto/rand, URL-safe base64 without padding (dlt's generate_dlt_id
// uses the standard alphabet; URL-safe ids can go into subjects and file
// names as they are).
func (g *ids) root() string {
	if len(g.ready) == 0 {
		g.rng.Read(g.raw[:])
		for i := range idChunk {
			base64.RawURLEncoding.Encode(g.enc[i*idChars:], g.raw[i*idBytes:(i+1)*idBytes])
		}
		g.ready = string(g.enc[:])
	}
	id := g.ready[:idChars]
	g.ready = g.ready[idChars:]
	return id
}

// child returns the id of the child row at position idx of table under the
// parent row parentID: a digest of f"{parent_row_id}_{table}_{idx}" cut to 10
// bytes, in URL-safe base64 like root ids. dlt digests the same text with
// SHAKE-128; SHA-256 is four times faster here (hardware instructions), and
// the ids need only be deterministic and unique, since the root ids they
// descend from are random anyway.
func (g *ids) child(parentID, table string, idx int) string {
	b := append(g.buf[:0], parentID...)
	b = append(b, '_')
	b = append(b, table...)
	b = append(b, '_')
	b = strconv.AppendInt(b, int64(idx), 10)
	g.buf = b
	sum := sha256.Sum256(b)
	var out [idChars]byte
	base64.RawURLEncoding.Encode(out[:], sum[:idBytes])
	return string(out[:])
}
