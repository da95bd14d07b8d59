package router

import (
	"bufio"
	"io"
	"net"
)

// Conn is a hijacked client connection: reads see bytes the HTTP server had
// already buffered, CloseWrite half-closes when the transport allows it.
type Conn interface {
	io.ReadWriteCloser
	CloseWrite() error
}

type hijacked struct {
	net.Conn
	r *bufio.Reader
}

func (h *hijacked) Read(p []byte) (int, error) { return h.r.Read(p) }

func (h *hijacked) CloseWrite() error {
	if cw, ok := h.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
