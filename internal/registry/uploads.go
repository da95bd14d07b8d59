package registry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-project/berth/internal/content"
)

// An upload session's bytes live in a content-store ingest ("upload-<id>"),
// which is published as a blob only when the final PUT names a digest the
// data has; a session file records which repository it belongs to. Both
// survive a crash of the server: a client that lost its connection asks for
// the session's Range and resumes, and nothing half-written is ever
// visible as a blob.
type uploads struct {
	dir string
	cs  *content.Store

	mu   sync.Mutex
	open map[string]*upload
}

type upload struct {
	id   string
	repo string

	mu       sync.Mutex
	w        *content.Writer // nil while closed; reopened (resumed) on use
	lastUsed time.Time
}

type sessionFile struct {
	Repository string    `json:"repository"`
	Started    time.Time `json:"started"`
}

// idleClose is how long an idle session keeps its ingest file open.
const idleClose = time.Minute

func newUploads(dir string, cs *content.Store) (*uploads, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("registry uploads: %w", err)
	}
	return &uploads{dir: dir, cs: cs, open: map[string]*upload{}}, nil
}

func ingestRef(id string) string { return "upload-" + id }

func validUploadID(id string) bool {
	if len(id) != 32 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}

// create starts a session for repo.
func (u *uploads) create(repo string) (*upload, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	id := hex.EncodeToString(b)
	data, _ := json.Marshal(sessionFile{Repository: repo, Started: time.Now().UTC()})
	if err := content.WriteFileAtomic(filepath.Join(u.dir, id), data, 0o644); err != nil {
		return nil, fmt.Errorf("create upload session: %w", err)
	}
	up := &upload{id: id, repo: repo, lastUsed: time.Now()}
	u.mu.Lock()
	u.open[id] = up
	u.mu.Unlock()
	return up, nil
}

func errUploadUnknown(id string) *Error {
	return errorf(CodeBlobUploadUnknown, "blob upload unknown to registry").withDetail(map[string]string{"uuid": id})
}

// get returns the session id of repo, locked; release it with put.
func (u *uploads) get(repo, id string) (*upload, error) {
	if !validUploadID(id) {
		return nil, errUploadUnknown(id)
	}
	for {
		up, err := u.lookup(id)
		if err != nil {
			return nil, err
		}
		if up.repo != repo {
			return nil, errUploadUnknown(id)
		}
		up.mu.Lock()
		u.mu.Lock()
		current := u.open[id] == up
		u.mu.Unlock()
		if current {
			up.lastUsed = time.Now()
			return up, nil
		}
		// Closed by the janitor or finished meanwhile: look again.
		up.mu.Unlock()
	}
}

func (u *uploads) lookup(id string) (*upload, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if up, ok := u.open[id]; ok {
		return up, nil
	}
	b, err := os.ReadFile(filepath.Join(u.dir, id))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, errUploadUnknown(id)
		}
		return nil, err
	}
	var sf sessionFile
	if err := json.Unmarshal(b, &sf); err != nil {
		return nil, errUploadUnknown(id)
	}
	up := &upload{id: id, repo: sf.Repository}
	u.open[id] = up
	return up, nil
}

func (up *upload) put() {
	up.lastUsed = time.Now()
	up.mu.Unlock()
}

// writer opens (resuming) the session's ingest.
func (u *uploads) writer(ctx context.Context, up *upload) (*content.Writer, error) {
	if up.w != nil {
		return up.w, nil
	}
	w, err := u.cs.Writer(ctx, ingestRef(up.id), "", 0)
	if err != nil {
		if errors.Is(err, content.ErrUnavailable) {
			return nil, errorf(CodeBlobUploadInvalid, "upload %s is in use", up.id)
		}
		return nil, err
	}
	up.w = w
	return w, nil
}

// finish forgets a session: after commit, or to cancel it.
func (u *uploads) finish(up *upload, abort bool) {
	if up.w != nil {
		up.w.Close()
		up.w = nil
	}
	if abort {
		u.cs.Abort(context.Background(), ingestRef(up.id))
	}
	os.Remove(filepath.Join(u.dir, up.id))
	u.mu.Lock()
	delete(u.open, up.id)
	u.mu.Unlock()
}

// janitor closes the files of sessions left idle.
func (u *uploads) janitor(stop <-chan struct{}) {
	t := time.NewTicker(idleClose / 2)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		u.mu.Lock()
		for id, up := range u.open {
			if up.mu.TryLock() {
				if time.Since(up.lastUsed) > idleClose {
					if up.w != nil {
						up.w.Close()
						up.w = nil
					}
					delete(u.open, id)
				}
				up.mu.Unlock()
			}
		}
		u.mu.Unlock()
	}
}

func (u *uploads) closeAll() {
	u.mu.Lock()
	all := make([]*upload, 0, len(u.open))
	for id, up := range u.open {
		all = append(all, up)
		delete(u.open, id)
	}
	u.mu.Unlock()
	for _, up := range all {
		up.mu.Lock()
		if up.w != nil {
			up.w.Close()
			up.w = nil
		}
		up.mu.Unlock()
	}
}

// removeStale deletes session files older than maxAge whose ingest is gone
// or unused (for garbage collection).
func (u *uploads) removeStale(maxAge time.Duration) int {
	ents, err := os.ReadDir(u.dir)
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range ents {
		info, err := e.Info()
		if err != nil || !validUploadID(e.Name()) || time.Since(info.ModTime()) < maxAge {
			continue
		}
		u.mu.Lock()
		_, inUse := u.open[e.Name()]
		u.mu.Unlock()
		if inUse {
			continue
		}
		if err := u.cs.Abort(context.Background(), ingestRef(e.Name())); err != nil && !errors.Is(err, content.ErrNotFound) {
			continue // held by a writer
		}
		if os.Remove(filepath.Join(u.dir, e.Name())) == nil {
			n++
		}
	}
	return n
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

func copyBody(dst io.Writer, src io.Reader) (int64, error) {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	return io.CopyBuffer(dst, src, *bp)
}

func uploadLocation(name, id string) string { return "/v2/" + name + "/blobs/uploads/" + id }

func blobLocation(name string, d digest.Digest) string { return "/v2/" + name + "/blobs/" + d.String() }

// rangeHeader is the Range of an upload holding n bytes ("0-0" when empty,
// as CNCF distribution answers).
func rangeHeader(n int64) string {
	if n > 0 {
		n--
	}
	return "0-" + strconv.FormatInt(n, 10)
}

func setUploadHeaders(w http.ResponseWriter, name, id string, offset int64) {
	h := w.Header()
	h.Set("Location", uploadLocation(name, id))
	h.Set("Range", rangeHeader(offset))
	h.Set("Docker-Upload-UUID", id)
	h.Set("Content-Length", "0")
}

// startUpload serves POST /v2/<name>/blobs/uploads/: a cross-repository
// mount, a monolithic upload (?digest= with the body), or a new session.
func (s *Server) startUpload(w http.ResponseWriter, r *http.Request, name string) error {
	q := r.URL.Query()
	if m := q.Get("mount"); m != "" {
		d, err := parseDigest(m)
		if err != nil {
			return err
		}
		from := q.Get("from")
		if from != "" && !validName(from) {
			return errorf(CodeNameInvalid, "invalid repository name").withDetail(map[string]string{"name": from})
		}
		if (from == "" || s.meta.hasBlob(from, d)) && s.content.Exists(d) {
			release, err := s.lease(r.Context())
			if err != nil {
				return err
			}
			err = s.linkCommitted(name, d)
			release()
			if err == nil {
				return created(w, blobLocation(name, d), d)
			}
		}
		// Not mountable: fall back to a new upload session.
	} else if dg := q.Get("digest"); dg != "" {
		d, err := parseDigest(dg)
		if err != nil {
			return err
		}
		return s.monolithic(w, r, name, d)
	}
	up, err := s.uploads.create(name)
	if err != nil {
		return err
	}
	setUploadHeaders(w, name, up.id, 0)
	w.WriteHeader(http.StatusAccepted)
	return nil
}

func created(w http.ResponseWriter, location string, d digest.Digest) error {
	h := w.Header()
	h.Set("Location", location)
	h.Set("Docker-Content-Digest", d.String())
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
	return nil
}

// monolithic stores the request body as blob d in one request.
func (s *Server) monolithic(w http.ResponseWriter, r *http.Request, name string, d digest.Digest) error {
	release, err := s.lease(r.Context())
	if err != nil {
		return err
	}
	defer release()
	size := r.ContentLength
	if size < 0 {
		size = 0
	}
	ref := "post-" + content.RandomID() + content.RandomID()
	_, _, err = s.content.WriteBlob(r.Context(), ref, bodyReader{r.Body}, d, size, nil)
	if err != nil {
		s.content.Abort(context.Background(), ref)
		return blobWriteError(err, d)
	}
	if err := s.linkCommitted(name, d); err != nil {
		return err
	}
	return created(w, blobLocation(name, d), d)
}

// bodyReader hides io.WriterTo etc. so that copies use our large buffer.
type bodyReader struct{ r io.Reader }

func (b bodyReader) Read(p []byte) (int, error) { return b.r.Read(p) }

func blobWriteError(err error, d digest.Digest) error {
	if errors.Is(err, content.ErrFailedPrecondition) {
		return &Error{Code: CodeDigestInvalid, Message: "provided digest did not match uploaded content",
			Detail: map[string]string{"digest": d.String()}, cause: err}
	}
	if errors.Is(err, content.ErrInvalidArgument) {
		return &Error{Code: CodeDigestInvalid, Message: "invalid digest", Detail: map[string]string{"digest": d.String()}, cause: err}
	}
	return err
}

// parseContentRange parses "start-end" (optionally with a "bytes " or
// "bytes=" prefix).
func parseContentRange(v string) (start, end int64, ok bool) {
	v = strings.TrimSpace(v)
	v = strings.TrimPrefix(strings.TrimPrefix(v, "bytes="), "bytes ")
	a, b, found := strings.Cut(v, "-")
	if !found {
		return 0, 0, false
	}
	start, err1 := strconv.ParseInt(a, 10, 64)
	end, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || start < 0 || end < start {
		return 0, 0, false
	}
	return start, end, true
}

// appendChunk checks the request's Content-Range against the session and
// appends the body.
func (s *Server) appendChunk(w http.ResponseWriter, r *http.Request, name string, up *upload, cw *content.Writer) error {
	if cr := r.Header.Get("Content-Range"); cr != "" {
		start, end, ok := parseContentRange(cr)
		if !ok || start != cw.Offset() {
			setUploadHeaders(w, name, up.id, cw.Offset())
			return errorf(CodeRangeInvalid, "Content-Range %q does not continue the upload at byte %d", cr, cw.Offset())
		}
		if r.ContentLength >= 0 && r.ContentLength != end-start+1 {
			return errorf(CodeSizeInvalid, "Content-Length %d does not match Content-Range %q", r.ContentLength, cr)
		}
	}
	if _, err := copyBody(cw, bodyReader{r.Body}); err != nil {
		if errors.Is(err, content.ErrFailedPrecondition) {
			return errorf(CodeBlobUploadInvalid, "%v", err)
		}
		return fmt.Errorf("upload %s: %w", up.id, err)
	}
	return nil
}

func (s *Server) patchUpload(w http.ResponseWriter, r *http.Request, name, id string) error {
	up, err := s.uploads.get(name, id)
	if err != nil {
		return err
	}
	defer up.put()
	cw, err := s.uploads.writer(r.Context(), up)
	if err != nil {
		return err
	}
	if err := s.appendChunk(w, r, name, up, cw); err != nil {
		return err
	}
	setUploadHeaders(w, name, up.id, cw.Offset())
	w.WriteHeader(http.StatusAccepted)
	return nil
}

func (s *Server) uploadStatus(w http.ResponseWriter, r *http.Request, name, id string) error {
	up, err := s.uploads.get(name, id)
	if err != nil {
		return err
	}
	defer up.put()
	cw, err := s.uploads.writer(r.Context(), up)
	if err != nil {
		return err
	}
	setUploadHeaders(w, name, up.id, cw.Offset())
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// finishUpload serves the final PUT ?digest=, with an optional last chunk.
func (s *Server) finishUpload(w http.ResponseWriter, r *http.Request, name, id string) error {
	up, err := s.uploads.get(name, id)
	if err != nil {
		return err
	}
	defer up.put()
	dg := r.URL.Query().Get("digest")
	if dg == "" {
		return errorf(CodeDigestInvalid, "the final PUT of an upload needs a digest parameter")
	}
	d, err := parseDigest(dg)
	if err != nil {
		return err
	}
	cw, err := s.uploads.writer(r.Context(), up)
	if err != nil {
		return err
	}
	if r.ContentLength != 0 {
		if err := s.appendChunk(w, r, name, up, cw); err != nil {
			return err
		}
	}
	release, err := s.lease(r.Context())
	if err != nil {
		return err
	}
	defer release()
	if err := cw.SetExpected(d, 0); err != nil {
		return blobWriteError(err, d)
	}
	_, err = cw.Commit(r.Context(), nil)
	up.w = nil // Commit closes the writer, also on failure
	if err != nil && !isAlreadyExists(err) {
		if errors.Is(err, content.ErrFailedPrecondition) {
			// The ingest is discarded: the session cannot be continued.
			s.uploads.finish(up, true)
		}
		return blobWriteError(err, d)
	}
	s.uploads.finish(up, false)
	if err := s.linkCommitted(name, d); err != nil {
		return err
	}
	return created(w, blobLocation(name, d), d)
}

func (s *Server) cancelUpload(w http.ResponseWriter, r *http.Request, name, id string) error {
	up, err := s.uploads.get(name, id)
	if err != nil {
		return err
	}
	defer up.put()
	s.uploads.finish(up, true)
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusNoContent)
	return nil
}
