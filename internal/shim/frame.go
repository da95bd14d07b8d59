package shim

import (
	"encoding/binary"
	"fmt"
	"io"
)

// Stream frames: the shim sends output to attach/exec clients in Docker's
// multiplexed format (an 8-byte header: stream, 0, 0, 0, big-endian
// length), with one extra stream carrying the exit code at the end.
const (
	StreamStdout = 1
	StreamStderr = 2
	// StreamExit carries the decimal exit code of the attached process; it
	// is the last frame of an exec or attach stream.
	StreamExit = 0x10
)

// WriteFrame writes one frame.
func WriteFrame(w io.Writer, stream byte, p []byte) error {
	var hdr [8]byte
	hdr[0] = stream
	binary.BigEndian.PutUint32(hdr[4:], uint32(len(p)))
	if _, err := w.Write(append(hdr[:], p...)); err != nil {
		return err
	}
	return nil
}

// ReadFrame reads one frame into buf (grown as needed).
func ReadFrame(r io.Reader, buf []byte) (byte, []byte, error) {
	var hdr [8]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, buf, err
	}
	n := binary.BigEndian.Uint32(hdr[4:])
	if n > 16<<20 {
		return 0, buf, fmt.Errorf("frame too large: %d bytes", n)
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		return 0, buf, err
	}
	return hdr[0], buf, nil
}
