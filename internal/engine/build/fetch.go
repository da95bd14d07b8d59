package build

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path"
	"strings"
	"time"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-project/berth/internal/errdefs"
)

// fetchURL downloads an ADD source into the session's directory and
// describes it as a file root: mode 0600 and the Last-Modified time, as
// Docker does; it is never extracted. With checksum set the content must
// have that digest.
func (s *session) fetchURL(ctx context.Context, src string, checksum digest.Digest) (copyRoot, digest.Digest, error) {
	u, err := url.Parse(src)
	if err != nil {
		return copyRoot{}, "", errdefs.InvalidArgumentf("ADD failed: invalid URL %s: %v", src, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return copyRoot{}, "", errdefs.InvalidArgumentf("ADD failed: %v", err)
	}
	resp, err := s.svc.http.Do(req)
	if err != nil {
		return copyRoot{}, "", fmt.Errorf("ADD failed: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		return copyRoot{}, "", fmt.Errorf("ADD failed: failed to GET %s with status %s", src, resp.Status)
	}
	f, err := os.CreateTemp(s.work, "url-")
	if err != nil {
		return copyRoot{}, "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), resp.Body)
	if err != nil {
		return copyRoot{}, "", fmt.Errorf("ADD failed: download %s: %w", src, err)
	}
	got := digest.NewDigest(digest.SHA256, h)
	if checksum != "" && checksum != got {
		return copyRoot{}, "", errdefs.InvalidArgumentf("ADD failed: checksum of %s is %s, not the expected %s", src, got, checksum)
	}
	name := path.Base(u.Path)
	if u.Path == "" || strings.HasSuffix(u.Path, "/") {
		name = ""
	}
	if name == "" {
		if cd := resp.Header.Get("Content-Disposition"); cd != "" {
			if _, params, err := mime.ParseMediaType(cd); err == nil && params["filename"] != "" && !strings.HasSuffix(params["filename"], "/") {
				name = path.Base(params["filename"])
			}
		}
	}
	if name == "" || name == "/" || name == "." {
		name = "__unnamed__"
	}
	mtime := time.Unix(0, 0).UTC()
	if lm := resp.Header.Get("Last-Modified"); lm != "" {
		if t, err := http.ParseTime(lm); err == nil {
			mtime = t.UTC()
		}
	}
	p := f.Name()
	root := copyRoot{name: name, files: []srcFile{{
		hdr:  tar.Header{Typeflag: tar.TypeReg, Mode: 0o600, Size: n, ModTime: mtime, PAXRecords: map[string]string{paxDigest: got.String()}},
		open: func() (io.ReadCloser, error) { return os.Open(p) },
	}}}
	return root, got, nil
}

// urlName is the file name ADD gives a URL's content (before download).
func urlName(src string) string {
	u, err := url.Parse(src)
	if err != nil || u.Path == "" || strings.HasSuffix(u.Path, "/") {
		return "__unnamed__"
	}
	return path.Base(u.Path)
}

// urlHeader describes a URL source whose content is known by checksum.
func urlHeader(checksum digest.Digest) tar.Header {
	return tar.Header{Typeflag: tar.TypeReg, Mode: 0o600, PAXRecords: map[string]string{paxDigest: checksum.String()}}
}
