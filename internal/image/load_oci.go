package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/berth-project/berth/internal/image/reference"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ociImages loads the images of index.json, named by their annotations or
// by manifest.json's RepoTags (matched by config digest).
func (l *loader) ociImages(ctx context.Context) ([]LoadedImage, error) {
	var idx ocispec.Index
	if err := json.Unmarshal(l.meta["index.json"], &idx); err != nil {
		return nil, fmt.Errorf("parse index.json: %v: %w", err, ErrInvalidArgument)
	}
	entries, err := l.dockerManifest()
	if err != nil {
		return nil, err
	}
	tagsByConfig := map[string][]string{}
	for _, e := range entries {
		if cf, err := l.file(e.Config); err == nil {
			tagsByConfig[cf.digest.String()] = append(tagsByConfig[cf.digest.String()], e.RepoTags...)
		}
	}
	var out []LoadedImage
	for _, desc := range idx.Manifests {
		if !l.s.cs.Exists(desc.Digest) {
			return nil, fmt.Errorf("blob %s of index.json missing from archive: %w", desc.Digest, ErrInvalidArgument)
		}
		if desc.MediaType == "" {
			mt, err := mediaTypeOf(ctx, l.s.cs, desc)
			if err != nil {
				return nil, err
			}
			desc.MediaType = mt
		}
		if !IsIndex(desc.MediaType) && !IsManifest(desc.MediaType) {
			continue
		}
		id := desc.Digest
		r, err := Resolve(ctx, l.s.cs, desc, l.s.platform)
		switch {
		case err == nil:
			for _, layer := range r.Manifest.Layers {
				if !l.s.cs.Exists(layer.Digest) {
					return nil, fmt.Errorf("layer %s missing from archive: %w", layer.Digest, ErrInvalidArgument)
				}
			}
			id = r.ID()
		case errors.Is(err, ErrNotFound) && IsIndex(desc.MediaType):
			// No manifest for this host: keep the index as it is.
		default:
			return nil, err
		}
		var names []string
		if n := desc.Annotations[AnnotationImageName]; n != "" {
			names = append(names, n)
		} else if n := desc.Annotations[AnnotationRefName]; strings.ContainsAny(n, "/:") {
			if _, err := reference.Parse(n); err == nil {
				names = append(names, n)
			}
		}
		if len(names) == 0 {
			names = tagsByConfig[id.String()]
		}
		clean := desc
		clean.Annotations = nil
		out = append(out, namedLoads(names, id, clean)...)
	}
	return out, nil
}
