package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/berth-project/berth/internal/content"
	"github.com/berth-project/berth/internal/image/platform"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Resolved is an image resolved to one platform's manifest.
type Resolved struct {
	Descriptor ocispec.Descriptor // of the manifest
	Manifest   ocispec.Manifest
	Config     Config
	ConfigRaw  []byte
}

// ID returns the image ID, the config digest, as Docker shows it.
func (r Resolved) ID() digest.Digest { return r.Manifest.Config.Digest }

// Platform returns the config's platform.
func (r Resolved) Platform() ocispec.Platform {
	return ocispec.Platform{OS: r.Config.OS, Architecture: r.Config.Architecture, Variant: r.Config.Variant, OSVersion: r.Config.OSVersion}
}

func readJSON(ctx context.Context, cs *content.Store, desc ocispec.Descriptor, v any) ([]byte, error) {
	b, err := cs.ReadBlob(ctx, desc.Digest)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return nil, fmt.Errorf("parse %s %s: %v: %w", desc.MediaType, desc.Digest, err, ErrInvalidArgument)
	}
	return b, nil
}

// ReadIndex reads an OCI index or Docker manifest list.
func ReadIndex(ctx context.Context, cs *content.Store, desc ocispec.Descriptor) (ocispec.Index, error) {
	var idx ocispec.Index
	_, err := readJSON(ctx, cs, desc, &idx)
	return idx, err
}

// ReadManifest reads an OCI or Docker schema 2 image manifest.
func ReadManifest(ctx context.Context, cs *content.Store, desc ocispec.Descriptor) (ocispec.Manifest, error) {
	var m ocispec.Manifest
	_, err := readJSON(ctx, cs, desc, &m)
	if err == nil && m.Config.Digest == "" {
		err = fmt.Errorf("manifest %s has no config: %w", desc.Digest, ErrInvalidArgument)
	}
	return m, err
}

// ReadConfig reads an image config and returns it with its raw bytes.
func ReadConfig(ctx context.Context, cs *content.Store, desc ocispec.Descriptor) (Config, []byte, error) {
	var c Config
	b, err := readJSON(ctx, cs, desc, &c)
	return c, b, err
}

// mediaTypeOf returns desc's media type, reading the blob when it is unset.
func mediaTypeOf(ctx context.Context, cs *content.Store, desc ocispec.Descriptor) (string, error) {
	if desc.MediaType != "" {
		return desc.MediaType, nil
	}
	b, err := cs.ReadBlob(ctx, desc.Digest)
	if err != nil {
		return "", err
	}
	return detectMediaType(b), nil
}

func isAttestation(d ocispec.Descriptor) bool {
	return d.Annotations["vnd.docker.reference.type"] == "attestation-manifest" ||
		(d.Platform != nil && d.Platform.OS == "unknown")
}

// Resolve follows desc (an index or a manifest) to the manifest for the
// platforms m accepts, preferring m's order. A single manifest is returned
// whatever its platform (like docker run of a foreign image). Index
// entries whose blobs are absent are skipped.
func Resolve(ctx context.Context, cs *content.Store, desc ocispec.Descriptor, m platform.Matcher) (Resolved, error) {
	return resolve(ctx, cs, desc, m, 0, true)
}

func resolve(ctx context.Context, cs *content.Store, desc ocispec.Descriptor, m platform.Matcher, depth int, top bool) (Resolved, error) {
	if depth > 8 {
		return Resolved{}, fmt.Errorf("index nesting too deep at %s: %w", desc.Digest, ErrInvalidArgument)
	}
	mt, err := mediaTypeOf(ctx, cs, desc)
	if err != nil {
		return Resolved{}, err
	}
	switch {
	case IsManifest(mt):
		desc.MediaType = mt
		man, err := ReadManifest(ctx, cs, desc)
		if err != nil {
			return Resolved{}, err
		}
		cfg, raw, err := ReadConfig(ctx, cs, man.Config)
		if err != nil {
			return Resolved{}, fmt.Errorf("config of %s: %w", desc.Digest, err)
		}
		r := Resolved{Descriptor: desc, Manifest: man, Config: cfg, ConfigRaw: raw}
		if !top && cfg.OS != "" && !m.Match(r.Platform()) {
			return Resolved{}, fmt.Errorf("manifest %s is for %s: %w", desc.Digest, platform.Format(r.Platform()), ErrNotFound)
		}
		return r, nil
	case IsIndex(mt):
		idx, err := ReadIndex(ctx, cs, desc)
		if err != nil {
			return Resolved{}, err
		}
		var cands []ocispec.Descriptor
		for _, c := range idx.Manifests {
			if isAttestation(c) || !cs.Exists(c.Digest) {
				continue
			}
			if c.Platform != nil && !m.Match(*c.Platform) {
				continue
			}
			cands = append(cands, c)
		}
		sort.SliceStable(cands, func(i, j int) bool {
			a, b := cands[i].Platform, cands[j].Platform
			if a == nil || b == nil {
				return a != nil
			}
			return m.Less(*a, *b)
		})
		for _, c := range cands {
			r, err := resolve(ctx, cs, c, m, depth+1, false)
			if err == nil {
				return r, nil
			}
			if !errors.Is(err, ErrNotFound) {
				return Resolved{}, err
			}
		}
		return Resolved{}, fmt.Errorf("no manifest for platform %s in %s: %w", m, desc.Digest, ErrNotFound)
	}
	return Resolved{}, fmt.Errorf("%s has unsupported media type %q: %w", desc.Digest, mt, ErrInvalidArgument)
}

// Children returns the descriptors an index or manifest refers to.
func Children(ctx context.Context, cs *content.Store, desc ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	mt, err := mediaTypeOf(ctx, cs, desc)
	if err != nil {
		return nil, err
	}
	switch {
	case IsIndex(mt):
		idx, err := ReadIndex(ctx, cs, desc)
		return idx.Manifests, err
	case IsManifest(mt):
		man, err := ReadManifest(ctx, cs, desc)
		if err != nil {
			return nil, err
		}
		return append([]ocispec.Descriptor{man.Config}, man.Layers...), nil
	}
	return nil, nil
}

// Closure returns desc and every descriptor reachable from it, parents
// before children; missing reports whether some blob is absent.
func Closure(ctx context.Context, cs *content.Store, desc ocispec.Descriptor) (all []ocispec.Descriptor, missing bool, err error) {
	seen := map[digest.Digest]bool{}
	var walk func(d ocispec.Descriptor) error
	walk = func(d ocispec.Descriptor) error {
		if seen[d.Digest] {
			return nil
		}
		seen[d.Digest] = true
		if !cs.Exists(d.Digest) {
			missing = true
			return nil
		}
		all = append(all, d)
		if IsLayer(d.MediaType) || IsConfig(d.MediaType) {
			return nil
		}
		kids, err := Children(ctx, cs, d)
		if err != nil {
			return err
		}
		for _, k := range kids {
			if err := walk(k); err != nil {
				return err
			}
		}
		return nil
	}
	err = walk(desc)
	return all, missing, err
}
