package builder

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"

	"github.com/moby/moby/client"
	"golang.org/x/sys/unix"
)

// contextSender streams a build context to the daemon's socket itself:
// tar headers are built here and file contents go from the page cache to
// the socket with sendfile(2), without passing through this process.
type contextSender struct {
	dir      string
	excludes []string
	extra    map[string][]byte
}

// bigFile is the size from which a file goes by sendfile (smaller ones
// are read into the current chunk, saving system calls).
const bigFile = 64 << 10

// post sends POST path on the unix socket sockPath with the context as a
// chunked body and returns the response.
func (cs *contextSender) post(ctx context.Context, sockPath, path string, header http.Header) (*http.Response, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", sockPath)
	if err != nil {
		return nil, fmt.Errorf("connect to the daemon: %w", err)
	}
	uc := conn.(*net.UnixConn)
	req, err := http.NewRequest(http.MethodPost, "http://api.moby.localhost"+path, nil)
	if err != nil {
		conn.Close()
		return nil, err
	}
	req.Header = header.Clone()
	var head bytes.Buffer
	fmt.Fprintf(&head, "POST %s HTTP/1.1\r\nHost: api.moby.localhost\r\nTransfer-Encoding: chunked\r\n", path)
	for k, vs := range header {
		for _, v := range vs {
			fmt.Fprintf(&head, "%s: %s\r\n", k, v)
		}
	}
	head.WriteString("\r\n")
	sent := make(chan error, 1)
	go func() {
		cw := &chunkWriter{conn: uc}
		cw.buf.Write(head.Bytes())
		err := cs.send(ctx, cw)
		if err == nil {
			err = cw.finish()
		}
		if err != nil {
			// Stop the daemon's read; the response says why if it can.
			uc.CloseWrite()
		}
		sent <- err
	}()
	resp, rerr := http.ReadResponse(bufio.NewReaderSize(conn, 64<<10), req)
	if rerr != nil {
		conn.Close()
		if serr := <-sent; serr != nil {
			return nil, serr
		}
		return nil, fmt.Errorf("read the daemon's answer: %w", rerr)
	}
	resp.Body = &responseBody{ReadCloser: resp.Body, conn: conn, sent: sent}
	return resp, nil
}

// responseBody closes the connection with the body and reports a failed
// upload when the daemon answered anyway.
type responseBody struct {
	io.ReadCloser
	conn net.Conn
	sent chan error
	err  error
	done bool
}

func (r *responseBody) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	if errors.Is(err, io.EOF) && !r.done {
		r.done = true
		if serr := <-r.sent; serr != nil {
			return n, fmt.Errorf("send the build context: %w", serr)
		}
	}
	return n, err
}

func (r *responseBody) Close() error {
	err := r.ReadCloser.Close()
	r.conn.Close()
	return err
}

// chunkWriter frames the body in HTTP chunks: small data gathered in buf,
// large files sent with sendfile as chunks of their own.
type chunkWriter struct {
	conn *net.UnixConn
	buf  bytes.Buffer
	body int // bytes of chunk data in buf (after the request head)
	raw  bool
}

const flushAt = 256 << 10

// Write adds chunk data.
func (c *chunkWriter) Write(p []byte) (int, error) {
	if c.body == 0 {
		c.buf.WriteString("00000000\r\n") // size, patched at flush
		c.raw = true
	}
	c.buf.Write(p)
	c.body += len(p)
	if c.body >= flushAt {
		return len(p), c.flush()
	}
	return len(p), nil
}

func (c *chunkWriter) flush() error {
	b := c.buf.Bytes()
	if c.body > 0 {
		// Patch the size placeholder: 8 hex digits fit any chunk here.
		start := len(b) - c.body - len("00000000\r\n")
		copy(b[start:], fmt.Sprintf("%08x", c.body))
		b = append(b, '\r', '\n')
	}
	_, err := c.conn.Write(b)
	c.buf.Reset()
	c.body = 0
	return err
}

// sendFile sends n bytes of f as one chunk with sendfile(2).
func (c *chunkWriter) sendFile(f *os.File, n int64) error {
	if c.body > 0 || c.buf.Len() > 0 {
		if err := c.flush(); err != nil {
			return err
		}
	}
	if _, err := fmt.Fprintf(c.conn, "%x\r\n", n); err != nil {
		return err
	}
	raw, err := c.conn.SyscallConn()
	if err != nil {
		return err
	}
	var off int64
	var serr error
	for off < n && serr == nil {
		werr := raw.Write(func(fd uintptr) bool {
			m, err := unix.Sendfile(int(fd), int(f.Fd()), &off, int(min(n-off, 1<<30)))
			switch {
			case errors.Is(err, unix.EAGAIN):
				return false // wait until the socket takes more
			case err != nil:
				serr = err
			case m == 0:
				serr = io.ErrUnexpectedEOF // the file shrank
			}
			return true
		})
		if werr != nil && serr == nil {
			serr = werr
		}
	}
	if serr != nil {
		return fmt.Errorf("send %s: %w", f.Name(), serr)
	}
	_, err = c.conn.Write([]byte("\r\n"))
	return err
}

// finish sends the last chunk and the end of the body.
func (c *chunkWriter) finish() error {
	if err := c.flush(); err != nil {
		return err
	}
	_, err := c.conn.Write([]byte("0\r\n\r\n"))
	return err
}

// send writes the context tar to cw: the same walk and rules as
// tarContext.
func (cs *contextSender) send(ctx context.Context, cw *chunkWriter) error {
	var hb bytes.Buffer
	header := func(h *tar.Header) error {
		hb.Reset()
		tw := tar.NewWriter(&hb)
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err := cw.Write(hb.Bytes()) // header blocks only: the data follows
		return err
	}
	pad := func(n int64) error {
		if r := n % 512; r != 0 {
			_, err := cw.Write(make([]byte, 512-r))
			return err
		}
		return nil
	}
	small := make([]byte, bigFile)
	err := walkContext(cs.dir, cs.excludes, func(p string, hdr *tar.Header) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if hdr.Typeflag != tar.TypeReg {
			return header(hdr)
		}
		f, err := openContextFile(p, hdr)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := header(hdr); err != nil {
			return err
		}
		if hdr.Size < bigFile {
			n, err := io.ReadFull(f, small[:hdr.Size])
			if err != nil || int64(n) != hdr.Size {
				return fmt.Errorf("%s changed while it was sent: %v", hdr.Name, err)
			}
			if _, err := cw.Write(small[:n]); err != nil {
				return err
			}
		} else if err := cw.sendFile(f, hdr.Size); err != nil {
			return err
		}
		return pad(hdr.Size)
	})
	if err != nil {
		return err
	}
	for name, data := range cs.extra {
		if err := header(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o600, Size: int64(len(data))}); err != nil {
			return err
		}
		if _, err := cw.Write(data); err != nil {
			return err
		}
		if err := pad(int64(len(data))); err != nil {
			return err
		}
	}
	_, err = cw.Write(make([]byte, 1024)) // end of archive
	return err
}

// buildQuery is the POST /build query of opts (the Engine API's names,
// as the moby client writes them).
func buildQuery(opts client.ImageBuildOptions) (url.Values, error) {
	q := url.Values{}
	for _, t := range opts.Tags {
		q.Add("t", t)
	}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("dockerfile", opts.Dockerfile)
	set("target", opts.Target)
	if opts.SuppressOutput {
		q.Set("q", "1")
	}
	if opts.NoCache {
		q.Set("nocache", "1")
	}
	if opts.PullParent {
		q.Set("pull", "1")
	}
	if opts.NetworkMode != "" && opts.NetworkMode != "default" {
		q.Set("networkmode", opts.NetworkMode)
	}
	if len(opts.Platforms) == 1 {
		p := opts.Platforms[0]
		v := p.OS + "/" + p.Architecture
		if p.Variant != "" {
			v += "/" + p.Variant
		}
		q.Set("platform", v)
	}
	for k, v := range map[string]any{"buildargs": opts.BuildArgs, "labels": opts.Labels, "outputs": opts.Outputs} {
		if reflectLen(v) == 0 {
			continue
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		q.Set(k, string(b))
	}
	q.Set("rm", "1")
	set("version", string(opts.Version))
	return q, nil
}

func reflectLen(v any) int {
	switch x := v.(type) {
	case map[string]*string:
		return len(x)
	case map[string]string:
		return len(x)
	case []client.ImageBuildOutput:
		return len(x)
	}
	return 0
}
