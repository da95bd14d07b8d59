package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-project/berth/internal/content"
)

// maxManifestSize is the largest manifest accepted (the spec asks
// registries to accept at least 4 MiB).
const maxManifestSize = 4 << 20

// Manifest media types the registry accepts.
const (
	mtOCIManifest    = ocispec.MediaTypeImageManifest
	mtOCIIndex       = ocispec.MediaTypeImageIndex
	mtDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	mtDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
)

func isIndexType(mt string) bool { return mt == mtOCIIndex || mt == mtDockerList }

// manifestDoc is the part of a manifest or index the registry checks.
type manifestDoc struct {
	SchemaVersion int                  `json:"schemaVersion"`
	MediaType     string               `json:"mediaType"`
	ArtifactType  string               `json:"artifactType"`
	Config        *ocispec.Descriptor  `json:"config"`
	Layers        []ocispec.Descriptor `json:"layers"`
	Manifests     []ocispec.Descriptor `json:"manifests"`
	Blobs         []ocispec.Descriptor `json:"blobs"`
	Subject       *ocispec.Descriptor  `json:"subject"`
	Annotations   map[string]string    `json:"annotations"`
	FSLayers      []map[string]any     `json:"fsLayers"` // schema 1, refused
	Signatures    []json.RawMessage    `json:"signatures"`
}

// resolveReference turns a tag or digest of repository name into a digest.
func (s *Server) resolveReference(name, ref string) (digest.Digest, error) {
	if strings.Contains(ref, ":") {
		d, err := parseDigest(ref)
		if err != nil {
			return "", err
		}
		return d, nil
	}
	if !validTag(ref) {
		return "", errManifestUnknown(ref)
	}
	return s.meta.tag(name, ref)
}

func (s *Server) getManifest(w http.ResponseWriter, r *http.Request, name, ref string) error {
	if s.opts.Upstream != nil {
		return s.proxyManifest(w, r, name, ref)
	}
	d, err := s.resolveReference(name, ref)
	if err != nil {
		return err
	}
	return s.serveManifest(w, r, name, d)
}

func (s *Server) serveManifest(w http.ResponseWriter, r *http.Request, name string, d digest.Digest) error {
	link, err := s.meta.manifest(name, d)
	if err != nil {
		return err
	}
	b, err := s.content.ReadBlob(r.Context(), d)
	if err != nil {
		return errManifestUnknown(d.String())
	}
	h := w.Header()
	h.Set("Content-Type", link.MediaType)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("Docker-Content-Digest", d.String())
	h.Set("Etag", `"`+d.String()+`"`)
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, d.String()) {
		h.Del("Content-Length")
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(b)
	}
	return nil
}

func manifestInvalid(format string, a ...any) *Error {
	return errorf(CodeManifestInvalid, format, a...)
}

// parseManifest checks a manifest's syntax and returns it with its media
// type (from Content-Type, else its mediaType field).
func parseManifest(body []byte, contentType string) (manifestDoc, string, error) {
	var doc manifestDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		return doc, "", manifestInvalid("manifest is not valid JSON: %v", err)
	}
	mt := ""
	if contentType != "" {
		parsed, _, err := mime.ParseMediaType(contentType)
		if err != nil {
			return doc, "", manifestInvalid("invalid Content-Type %q", contentType)
		}
		mt = parsed
	}
	if doc.FSLayers != nil || doc.Signatures != nil || strings.HasPrefix(mt, "application/vnd.docker.distribution.manifest.v1") {
		return doc, "", manifestInvalid("Docker schema 1 manifests are not supported")
	}
	if doc.MediaType != "" {
		if mt != "" && mt != doc.MediaType && mt != "application/json" {
			return doc, "", manifestInvalid("Content-Type %q does not match the manifest's mediaType %q", mt, doc.MediaType)
		}
		mt = doc.MediaType
	}
	if mt == "" || mt == "application/json" {
		switch {
		case doc.Config != nil:
			mt = mtOCIManifest
		case doc.Manifests != nil:
			mt = mtOCIIndex
		default:
			return doc, "", manifestInvalid("cannot tell the manifest's media type: no Content-Type, mediaType, config or manifests")
		}
	}
	switch mt {
	case mtOCIManifest, mtDockerManifest:
		if doc.Config == nil {
			return doc, "", manifestInvalid("image manifest without config")
		}
		if doc.Manifests != nil {
			return doc, "", manifestInvalid("image manifest with a manifests list")
		}
	case mtOCIIndex, mtDockerList:
		if doc.Config != nil || doc.Layers != nil {
			return doc, "", manifestInvalid("index with config or layers")
		}
	default:
		return doc, "", manifestInvalid("unsupported manifest media type %q", mt)
	}
	if doc.SchemaVersion != 2 {
		return doc, "", manifestInvalid("schemaVersion %d, expected 2", doc.SchemaVersion)
	}
	for _, desc := range doc.descriptors() {
		if err := checkDescriptor(desc); err != nil {
			return doc, "", err
		}
	}
	return doc, mt, nil
}

func (doc *manifestDoc) descriptors() []ocispec.Descriptor {
	var out []ocispec.Descriptor
	if doc.Config != nil {
		out = append(out, *doc.Config)
	}
	out = append(out, doc.Layers...)
	out = append(out, doc.Manifests...)
	out = append(out, doc.Blobs...)
	if doc.Subject != nil {
		out = append(out, *doc.Subject)
	}
	return out
}

// checkDescriptor checks a descriptor's digest, size and embedded data.
func checkDescriptor(desc ocispec.Descriptor) error {
	if err := desc.Digest.Validate(); err != nil {
		return manifestInvalid("descriptor digest %q: %v", desc.Digest, err)
	}
	if desc.Size < 0 {
		return manifestInvalid("descriptor %s has a negative size", desc.Digest)
	}
	if desc.Data != nil {
		if int64(len(desc.Data)) != desc.Size || desc.Digest.Algorithm().FromBytes(desc.Data) != desc.Digest {
			return manifestInvalid("descriptor %s: embedded data does not match its digest and size", desc.Digest)
		}
	}
	return nil
}

// checkReferences makes sure everything the manifest needs is in the
// repository: config and layers (except non-distributable layers, which
// carry URLs) as blobs of the stated size, an index's children as manifests.
func (s *Server) checkReferences(ctx context.Context, name string, doc manifestDoc, mt string) error {
	unknown := func(d digest.Digest) error {
		return errorf(CodeManifestBlobUnknown, "blob unknown to registry").withDetail(map[string]string{"digest": d.String()})
	}
	if isIndexType(mt) {
		for _, m := range doc.Manifests {
			if !s.meta.hasManifest(name, m.Digest) {
				return unknown(m.Digest)
			}
		}
		return nil
	}
	blobs := append([]ocispec.Descriptor{*doc.Config}, doc.Layers...)
	for _, b := range blobs {
		if len(b.URLs) > 0 && !s.meta.hasBlob(name, b.Digest) {
			continue
		}
		if !s.meta.hasBlob(name, b.Digest) {
			return unknown(b.Digest)
		}
		info, err := s.content.Info(ctx, b.Digest)
		if err != nil {
			return unknown(b.Digest)
		}
		if info.Size != b.Size {
			return manifestInvalid("descriptor %s has size %d, the blob has %d", b.Digest, b.Size, info.Size)
		}
	}
	return nil
}

func (s *Server) putManifest(w http.ResponseWriter, r *http.Request, name, ref string) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxManifestSize+1))
	if err != nil {
		return fmt.Errorf("read manifest: %w", err)
	}
	if len(body) > maxManifestSize {
		return manifestInvalid("manifest larger than %d bytes", maxManifestSize)
	}
	var d digest.Digest
	tags := r.URL.Query()["tag"]
	if strings.Contains(ref, ":") {
		want, err := parseDigest(ref)
		if err != nil {
			return err
		}
		d = want.Algorithm().FromBytes(body)
		if d != want {
			return errorf(CodeDigestInvalid, "manifest digest %s does not match %s", d, want).withDetail(map[string]string{"digest": want.String()})
		}
	} else {
		d = digest.Canonical.FromBytes(body)
		tags = append([]string{ref}, tags...)
	}
	for _, t := range tags {
		if !validTag(t) {
			return errorf(CodeTagInvalid, "invalid tag %q", t).withDetail(map[string]string{"tag": t})
		}
	}
	doc, mt, err := parseManifest(body, r.Header.Get("Content-Type"))
	if err != nil {
		return err
	}
	release, err := s.lease(r.Context())
	if err != nil {
		return err
	}
	defer release()
	if err := s.checkReferences(r.Context(), name, doc, mt); err != nil {
		return err
	}
	if _, _, err := s.content.WriteBlob(r.Context(), "manifest-"+content.RandomID()+content.RandomID(), bytes.NewReader(body), d, int64(len(body)), nil); err != nil {
		return fmt.Errorf("store manifest: %w", err)
	}
	link := manifestLinkFile{MediaType: mt}
	var referrer *ocispec.Descriptor
	if doc.Subject != nil {
		link.Subject = doc.Subject.Digest
		at := doc.ArtifactType
		if at == "" && doc.Config != nil {
			at = doc.Config.MediaType
		}
		referrer = &ocispec.Descriptor{MediaType: mt, Digest: d, Size: int64(len(body)), ArtifactType: at, Annotations: doc.Annotations}
	}
	unlock := s.meta.lock(name)
	defer unlock()
	if err := s.meta.putManifest(name, d, link, referrer); err != nil {
		return err
	}
	for _, t := range tags {
		if err := s.meta.setTag(name, t, d); err != nil {
			return err
		}
	}
	h := w.Header()
	if doc.Subject != nil {
		h.Set("OCI-Subject", doc.Subject.Digest.String())
	}
	if q := r.URL.Query()["tag"]; len(q) > 0 {
		h.Set("OCI-Tag", strings.Join(q, ","))
	}
	return created(w, "/v2/"+name+"/manifests/"+d.String(), d)
}

func (s *Server) deleteManifest(w http.ResponseWriter, r *http.Request, name, ref string) error {
	unlock := s.meta.lock(name)
	defer unlock()
	if strings.Contains(ref, ":") {
		d, err := parseDigest(ref)
		if err != nil {
			return err
		}
		if err := s.meta.deleteManifest(name, d); err != nil {
			return err
		}
	} else {
		if !validTag(ref) {
			return errorf(CodeTagInvalid, "invalid tag %q", ref)
		}
		if err := s.meta.deleteTag(name, ref); err != nil {
			return err
		}
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
	return nil
}
