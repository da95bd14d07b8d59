package snapref

import (
	"hash/crc32"
	"testing"
)

// Added by berth: the table made on first use gives the checksums of the
// Snappy framing format (masked CRC-32C).
func TestCRCLazyTable(t *testing.T) {
	for _, in := range []string{"", "a", "berth", "The quick brown fox jumps over the lazy dog"} {
		c := crc32.Checksum([]byte(in), crc32.MakeTable(crc32.Castagnoli))
		want := (c>>15 | c<<17) + 0xa282ead8
		if got := crc([]byte(in)); got != want {
			t.Errorf("crc(%q) = %#x, want %#x", in, got, want)
		}
	}
}
