package content

import (
	"encoding/json"
	"strings"

	digest "github.com/opencontainers/go-digest"
)

// Labels with these prefixes on a blob mark it as a GC root, or name blobs
// it references (value: a digest), like containerd's gc labels.
const (
	LabelGCRoot       = "berth.gc.root"
	LabelGCRefContent = "berth.gc.ref.content."
)

// Media types whose blobs may reference other blobs.
const (
	mediaTypeOCIIndex        = "application/vnd.oci.image.index.v1+json"
	mediaTypeOCIManifest     = "application/vnd.oci.image.manifest.v1+json"
	mediaTypeDockerList      = "application/vnd.docker.distribution.manifest.list.v2+json"
	mediaTypeDockerManifest  = "application/vnd.docker.distribution.manifest.v2+json"
	maxReferencingBlobLength = 16 << 20
)

type jsonDescriptor struct {
	MediaType string        `json:"mediaType"`
	Digest    digest.Digest `json:"digest"`
}

// referencingDoc covers the fields of OCI/Docker indexes and manifests that
// point at other blobs.
type referencingDoc struct {
	SchemaVersion int              `json:"schemaVersion"`
	MediaType     string           `json:"mediaType"`
	Config        *jsonDescriptor  `json:"config"`
	Layers        []jsonDescriptor `json:"layers"`
	Manifests     []jsonDescriptor `json:"manifests"`
	Blobs         []jsonDescriptor `json:"blobs"`
	Subject       *jsonDescriptor  `json:"subject"`
}

// References returns the digests a blob refers to if it is an OCI or Docker
// image index or manifest; for anything else (configs, layers) it returns
// nil. Blobs are recognised by their content, since the store keeps no
// media type.
func References(b []byte) []digest.Digest {
	if len(b) == 0 || len(b) > maxReferencingBlobLength || !looksLikeJSONObject(b) {
		return nil
	}
	var doc referencingDoc
	if err := json.Unmarshal(b, &doc); err != nil || doc.SchemaVersion != 2 {
		return nil
	}
	var out []digest.Digest
	add := func(d jsonDescriptor) {
		if d.Digest.Validate() == nil {
			out = append(out, d.Digest)
		}
	}
	if doc.Config != nil {
		add(*doc.Config)
	}
	for _, l := range doc.Layers {
		add(l)
	}
	for _, m := range doc.Manifests {
		add(m)
	}
	for _, b := range doc.Blobs {
		add(b)
	}
	if doc.Subject != nil {
		add(*doc.Subject)
	}
	return out
}

func looksLikeJSONObject(b []byte) bool {
	s := strings.TrimLeft(string(b[:min(len(b), 64)]), " \t\r\n")
	return strings.HasPrefix(s, "{")
}

// labelReferences returns the digests named by gc.ref labels.
func labelReferences(labels map[string]string) []digest.Digest {
	var out []digest.Digest
	for k, v := range labels {
		if strings.HasPrefix(k, LabelGCRefContent) {
			if d := digest.Digest(v); d.Validate() == nil {
				out = append(out, d)
			}
		}
	}
	return out
}
