package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-project/berth/internal/content"
)

// meta is the per-repository metadata of the registry, kept as files next
// to the shared content store:
//
//	repositories/<name>/_blobs/<alg>/<hex>          blob linked into the repository (empty file)
//	repositories/<name>/_manifests/<alg>/<hex>      manifest in the repository (JSON manifestLink)
//	repositories/<name>/_tags/<tag>                 the digest the tag points at
//	repositories/<name>/_referrers/<alg>/<hex>/<alg>-<hex>
//	                                                descriptor of a manifest whose subject is <alg>:<hex>
//
// Path components of repository names never start with "_", so these
// directories cannot collide with nested repositories. Every file is
// written by rename of a synced temporary file, so readers see the old or
// the new state and a crash never leaves a half-written link or tag.
type meta struct {
	root string

	mu    sync.Mutex
	locks map[string]*sync.Mutex
}

func newMeta(root string) (*meta, error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("registry metadata: %w", err)
	}
	return &meta{root: root, locks: map[string]*sync.Mutex{}}, nil
}

// lock serialises changes to one repository's manifests and tags.
func (m *meta) lock(name string) func() {
	m.mu.Lock()
	l, ok := m.locks[name]
	if !ok {
		l = &sync.Mutex{}
		m.locks[name] = l
	}
	m.mu.Unlock()
	l.Lock()
	return l.Unlock
}

func (m *meta) repoDir(name string) string { return filepath.Join(m.root, filepath.FromSlash(name)) }

func digestPath(dir string, d digest.Digest) string {
	return filepath.Join(dir, d.Algorithm().String(), d.Encoded())
}

func (m *meta) blobLink(name string, d digest.Digest) string {
	return digestPath(filepath.Join(m.repoDir(name), "_blobs"), d)
}

func (m *meta) manifestLink(name string, d digest.Digest) string {
	return digestPath(filepath.Join(m.repoDir(name), "_manifests"), d)
}

func (m *meta) tagPath(name, tag string) string {
	return filepath.Join(m.repoDir(name), "_tags", tag)
}

func (m *meta) referrersDir(name string, subject digest.Digest) string {
	return digestPath(filepath.Join(m.repoDir(name), "_referrers"), subject)
}

// exists reports whether anything was ever pushed to the repository.
func (m *meta) exists(name string) bool {
	for _, d := range []string{"_blobs", "_manifests", "_tags"} {
		if _, err := os.Stat(filepath.Join(m.repoDir(name), d)); err == nil {
			return true
		}
	}
	return false
}

// writeFile writes data to path atomically and durably, creating parents.
func writeFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return content.WriteFileAtomic(path, data, 0o644)
}

// linkBlob makes a committed blob visible in the repository. The link is
// durable when linkBlob returns: a manifest accepted later may rely on it.
func (m *meta) linkBlob(name string, d digest.Digest) error {
	p := m.blobLink(name, d)
	if _, err := os.Stat(p); err == nil {
		now := time.Now()
		os.Chtimes(p, now, now) // a fresh link is protected from GC for a while
		return nil
	}
	if err := writeFile(p, nil); err != nil {
		return fmt.Errorf("link blob %s into %s: %w", d, name, err)
	}
	return nil
}

func (m *meta) hasBlob(name string, d digest.Digest) bool {
	_, err := os.Stat(m.blobLink(name, d))
	return err == nil
}

func (m *meta) unlinkBlob(name string, d digest.Digest) error {
	err := os.Remove(m.blobLink(name, d))
	if errors.Is(err, fs.ErrNotExist) {
		return errorf(CodeBlobUnknown, "blob unknown to registry").withDetail(map[string]string{"digest": d.String()})
	}
	return err
}

// manifestLink is what the registry keeps about a manifest besides its
// bytes (which live in the content store).
type manifestLinkFile struct {
	MediaType string `json:"mediaType"`
	// Subject is the manifest's subject, for removing its referrers entry.
	Subject digest.Digest `json:"subject,omitempty"`
}

func (m *meta) manifest(name string, d digest.Digest) (manifestLinkFile, error) {
	var l manifestLinkFile
	b, err := os.ReadFile(m.manifestLink(name, d))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return l, errManifestUnknown(d.String())
		}
		return l, err
	}
	if err := json.Unmarshal(b, &l); err != nil {
		return l, fmt.Errorf("manifest link %s in %s: %w", d, name, err)
	}
	return l, nil
}

func (m *meta) hasManifest(name string, d digest.Digest) bool {
	_, err := os.Stat(m.manifestLink(name, d))
	return err == nil
}

// putManifest records a manifest (its bytes already committed) and, if it
// has a subject, its referrers entry. The caller holds the repository lock.
func (m *meta) putManifest(name string, d digest.Digest, link manifestLinkFile, referrer *ocispec.Descriptor) error {
	if referrer != nil && link.Subject != "" {
		b, err := json.Marshal(referrer)
		if err != nil {
			return err
		}
		p := filepath.Join(m.referrersDir(name, link.Subject), d.Algorithm().String()+"-"+d.Encoded())
		if err := writeFile(p, b); err != nil {
			return fmt.Errorf("record referrer %s of %s: %w", d, link.Subject, err)
		}
	}
	b, err := json.Marshal(link)
	if err != nil {
		return err
	}
	if err := writeFile(m.manifestLink(name, d), b); err != nil {
		return fmt.Errorf("record manifest %s in %s: %w", d, name, err)
	}
	return nil
}

// deleteManifest removes a manifest, the tags that point at it and its
// referrers entry. The caller holds the repository lock.
func (m *meta) deleteManifest(name string, d digest.Digest) error {
	link, err := m.manifest(name, d)
	if err != nil {
		return err
	}
	tags, err := m.tags(name)
	if err != nil {
		return err
	}
	for _, t := range tags {
		if td, err := m.tag(name, t); err == nil && td == d {
			if err := os.Remove(m.tagPath(name, t)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	if err := os.Remove(m.manifestLink(name, d)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if link.Subject != "" {
		p := filepath.Join(m.referrersDir(name, link.Subject), d.Algorithm().String()+"-"+d.Encoded())
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		os.Remove(filepath.Dir(p)) // only succeeds when empty
	}
	return nil
}

func (m *meta) setTag(name, tag string, d digest.Digest) error {
	if err := writeFile(m.tagPath(name, tag), []byte(d.String())); err != nil {
		return fmt.Errorf("tag %s:%s: %w", name, tag, err)
	}
	return nil
}

func (m *meta) tag(name, tag string) (digest.Digest, error) {
	b, err := os.ReadFile(m.tagPath(name, tag))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", errManifestUnknown(tag)
		}
		return "", err
	}
	d, err := digest.Parse(strings.TrimSpace(string(b)))
	if err != nil {
		return "", fmt.Errorf("tag %s:%s: %w", name, tag, err)
	}
	return d, nil
}

// tagTime is when the tag was last written (for the pull-through cache).
func (m *meta) tagTime(name, tag string) (time.Time, bool) {
	st, err := os.Stat(m.tagPath(name, tag))
	if err != nil {
		return time.Time{}, false
	}
	return st.ModTime(), true
}

func (m *meta) deleteTag(name, tag string) error {
	err := os.Remove(m.tagPath(name, tag))
	if errors.Is(err, fs.ErrNotExist) {
		return errManifestUnknown(tag)
	}
	return err
}

// tags lists the repository's tags in lexical order.
func (m *meta) tags(name string) ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(m.repoDir(name), "_tags"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	out := make([]string, 0, len(ents))
	for _, e := range ents {
		if n := e.Name(); validTag(n) {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out, nil
}

// referrers lists the descriptors of manifests whose subject is subject.
func (m *meta) referrers(name string, subject digest.Digest) ([]ocispec.Descriptor, error) {
	dir := m.referrersDir(name, subject)
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	out := []ocispec.Descriptor{}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // deleted meanwhile
		}
		var desc ocispec.Descriptor
		if err := json.Unmarshal(b, &desc); err != nil || desc.Digest.Validate() != nil {
			continue
		}
		if m.hasManifest(name, desc.Digest) {
			out = append(out, desc)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Digest < out[j].Digest })
	return out, nil
}

// repositories lists every repository name in lexical order.
func (m *meta) repositories() ([]string, error) {
	var out []string
	var walk func(dir, prefix string) error
	walk = func(dir, prefix string) error {
		ents, err := os.ReadDir(dir)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		isRepo := false
		for _, e := range ents {
			if !e.IsDir() {
				continue
			}
			n := e.Name()
			if strings.HasPrefix(n, "_") {
				isRepo = true
				continue
			}
			if !validComponent(n) {
				continue
			}
			sub := n
			if prefix != "" {
				sub = prefix + "/" + n
			}
			if err := walk(filepath.Join(dir, n), sub); err != nil {
				return err
			}
		}
		if isRepo && prefix != "" {
			out = append(out, prefix)
		}
		return nil
	}
	if err := walk(m.root, ""); err != nil {
		return nil, err
	}
	sort.Strings(out)
	return out, nil
}

// manifests lists the digests of every manifest in the repository.
func (m *meta) manifests(name string) ([]digest.Digest, error) {
	return listDigests(filepath.Join(m.repoDir(name), "_manifests"))
}

// blobs lists the digests of every blob linked into the repository, with
// the time of linking.
func (m *meta) blobs(name string) (map[digest.Digest]time.Time, error) {
	ds, err := listDigests(filepath.Join(m.repoDir(name), "_blobs"))
	if err != nil {
		return nil, err
	}
	out := make(map[digest.Digest]time.Time, len(ds))
	for _, d := range ds {
		if st, err := os.Stat(m.blobLink(name, d)); err == nil {
			out[d] = st.ModTime()
		}
	}
	return out, nil
}

func listDigests(dir string) ([]digest.Digest, error) {
	algs, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var out []digest.Digest
	for _, a := range algs {
		if !a.IsDir() || !digest.Algorithm(a.Name()).Available() {
			continue
		}
		ents, err := os.ReadDir(filepath.Join(dir, a.Name()))
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			d := digest.NewDigestFromEncoded(digest.Algorithm(a.Name()), e.Name())
			if d.Validate() == nil {
				out = append(out, d)
			}
		}
	}
	return out, nil
}

func errManifestUnknown(ref string) *Error {
	return errorf(CodeManifestUnknown, "manifest unknown").withDetail(map[string]string{"reference": ref})
}

func statTime(p string) (time.Time, bool) {
	st, err := os.Stat(p)
	if err != nil {
		return time.Time{}, false
	}
	return st.ModTime(), true
}
