package content

import (
	"crypto/rand"
	"encoding/hex"
)

// RandomID returns 16 random hex digits, for unique ingest refs.
func RandomID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func randomSuffix() string { return RandomID() }
