// Package archive reads and writes layer tarballs: decompression, safe
// extraction (Apply) with OCI whiteouts, layer diffs (Diff) and whole-tree
// export (Tar).
package archive

import (
	"bufio"
	"bytes"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Compression is a compression format of a layer.
type Compression int

const (
	Uncompressed Compression = iota
	Gzip
	Zstd
)

func (c Compression) String() string {
	switch c {
	case Gzip:
		return "gzip"
	case Zstd:
		return "zstd"
	default:
		return "uncompressed"
	}
}

var (
	gzipMagic = []byte{0x1f, 0x8b, 0x08}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// DetectCompression reports the compression of a stream from its first bytes.
func DetectCompression(head []byte) Compression {
	switch {
	case bytes.HasPrefix(head, gzipMagic):
		return Gzip
	case bytes.HasPrefix(head, zstdMagic):
		return Zstd
	default:
		return Uncompressed
	}
}

// Decompress sniffs gzip, zstd or no compression and returns a reader of
// the decompressed stream. Decompression runs in its own goroutine, feeding
// the returned reader through a pipe, so it overlaps with the consumer.
// Closing the reader stops the goroutine.
func Decompress(r io.Reader) (io.ReadCloser, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(4)
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("read compression header: %w", err)
	}
	var dec io.Reader
	var closeDec func()
	switch DetectCompression(head) {
	case Gzip:
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("open gzip stream: %w", err)
		}
		dec, closeDec = gz, func() { gz.Close() }
	case Zstd:
		zd, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, fmt.Errorf("open zstd stream: %w", err)
		}
		dec, closeDec = zd, zd.Close
	default:
		return io.NopCloser(br), nil
	}
	pr, pw := io.Pipe()
	go func() {
		_, err := io.Copy(pw, dec)
		closeDec()
		pw.CloseWithError(err)
	}()
	return pr, nil
}
