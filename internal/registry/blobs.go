package registry

import (
	"errors"
	"net/http"
	"os"
	"strconv"
	"time"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-project/berth/internal/content"
)

func parseDigest(s string) (digest.Digest, error) {
	d, err := digest.Parse(s)
	if err != nil {
		return "", errorf(CodeDigestInvalid, "invalid digest %q: %v", s, err).withDetail(map[string]string{"digest": s})
	}
	if !d.Algorithm().Available() {
		return "", errorf(CodeDigestInvalid, "unsupported digest algorithm %q", d.Algorithm()).withDetail(map[string]string{"digest": s})
	}
	return d, nil
}

func errBlobUnknown(d digest.Digest) *Error {
	return errorf(CodeBlobUnknown, "blob unknown to registry").withDetail(map[string]string{"digest": d.String()})
}

// getBlob serves GET and HEAD of a blob, with byte ranges.
func (s *Server) getBlob(w http.ResponseWriter, r *http.Request, name, ref string) error {
	d, err := parseDigest(ref)
	if err != nil {
		return err
	}
	if !s.meta.hasBlob(name, d) || !s.content.Exists(d) {
		if s.opts.Upstream == nil {
			return errBlobUnknown(d)
		}
		return s.proxyBlob(w, r, name, d)
	}
	return s.serveBlob(w, r, d)
}

// serveBlob writes a committed blob (Range requests included; http.ServeContent
// sends a plain file with sendfile).
func (s *Server) serveBlob(w http.ResponseWriter, r *http.Request, d digest.Digest) error {
	p, err := s.content.BlobPath(d)
	if err != nil {
		return errBlobUnknown(d)
	}
	f, err := os.Open(p)
	if err != nil {
		return errBlobUnknown(d)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Docker-Content-Digest", d.String())
	h.Set("Etag", `"`+d.String()+`"`)
	h.Set("Cache-Control", "max-age=31536000")
	h.Set("Accept-Ranges", "bytes")
	if r.Method == http.MethodHead && r.Header.Get("Range") == "" {
		h.Set("Content-Length", strconv.FormatInt(st.Size(), 10))
		w.WriteHeader(http.StatusOK)
		return nil
	}
	http.ServeContent(w, r, "", time.Time{}, f)
	return nil
}

func (s *Server) deleteBlob(w http.ResponseWriter, r *http.Request, name, ref string) error {
	d, err := parseDigest(ref)
	if err != nil {
		return err
	}
	if err := s.meta.unlinkBlob(name, d); err != nil {
		return err
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// linkCommitted links a blob that is in the content store into a repository.
func (s *Server) linkCommitted(name string, d digest.Digest) error {
	if !s.content.Exists(d) {
		return errBlobUnknown(d)
	}
	return s.meta.linkBlob(name, d)
}

func isAlreadyExists(err error) bool { return errors.Is(err, content.ErrAlreadyExists) }
