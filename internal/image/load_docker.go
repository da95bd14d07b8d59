package image

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/berth-project/berth/internal/archive"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func (l *loader) dockerManifest() ([]dockerManifestEntry, error) {
	var entries []dockerManifestEntry
	if b := l.meta["manifest.json"]; b != nil {
		if err := json.Unmarshal(b, &entries); err != nil {
			return nil, fmt.Errorf("parse manifest.json: %v: %w", err, ErrInvalidArgument)
		}
	}
	return entries, nil
}

// dockerImages builds an OCI manifest for each manifest.json entry. Layers
// are normally uncompressed, so their digest must equal the config's diff
// ID; compressed ones are checked by decompressing.
func (l *loader) dockerImages(ctx context.Context) ([]LoadedImage, error) {
	entries, err := l.dockerManifest()
	if err != nil {
		return nil, err
	}
	var out []LoadedImage
	for _, e := range entries {
		cf, err := l.file(e.Config)
		if err != nil {
			return nil, err
		}
		cfgDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: cf.digest, Size: cf.size}
		cfg, _, err := ReadConfig(ctx, l.s.cs, cfgDesc)
		if err != nil {
			return nil, err
		}
		if len(cfg.RootFS.DiffIDs) != len(e.Layers) {
			return nil, fmt.Errorf("config %s has %d diff IDs for %d layers: %w", cf.digest, len(cfg.RootFS.DiffIDs), len(e.Layers), ErrInvalidArgument)
		}
		man := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: cfgDesc}
		man.SchemaVersion = 2
		for i, lp := range e.Layers {
			lf, err := l.file(lp)
			if err != nil {
				return nil, err
			}
			desc := ocispec.Descriptor{Digest: lf.digest, Size: lf.size}
			switch lf.compression {
			case archive.Gzip:
				desc.MediaType = ocispec.MediaTypeImageLayerGzip
			case archive.Zstd:
				desc.MediaType = ocispec.MediaTypeImageLayerZstd
			default:
				desc.MediaType = ocispec.MediaTypeImageLayer
			}
			diffID, err := l.s.diffID(ctx, desc)
			if err != nil {
				return nil, err
			}
			if diffID != cfg.RootFS.DiffIDs[i] {
				return nil, fmt.Errorf("layer %s has diff ID %s, config says %s: %w", lp, diffID, cfg.RootFS.DiffIDs[i], ErrFailedPrecondition)
			}
			man.Layers = append(man.Layers, desc)
		}
		b, err := json.Marshal(man)
		if err != nil {
			return nil, fmt.Errorf("encode manifest: %w", err)
		}
		md, err := l.s.cs.WriteBytes(ctx, b, nil)
		if err != nil {
			return nil, err
		}
		target := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: md, Size: int64(len(b))}
		out = append(out, namedLoads(e.RepoTags, cf.digest, target)...)
	}
	return out, nil
}

func namedLoads(tags []string, id digest.Digest, target ocispec.Descriptor) []LoadedImage {
	if len(tags) == 0 {
		return []LoadedImage{{ID: id, Target: target}}
	}
	var out []LoadedImage
	for _, t := range tags {
		out = append(out, LoadedImage{Name: t, ID: id, Target: target})
	}
	return out
}

// diffID returns the digest of a layer's uncompressed tar.
func (s *Store) diffID(ctx context.Context, desc ocispec.Descriptor) (digest.Digest, error) {
	if !IsCompressedLayer(desc.MediaType) {
		return desc.Digest, nil
	}
	rc, err := s.cs.Open(ctx, desc.Digest)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	dec, err := archive.Decompress(rc)
	if err != nil {
		return "", fmt.Errorf("decompress layer %s: %w", desc.Digest, err)
	}
	defer dec.Close()
	dg := digest.Canonical.Digester()
	if _, err := io.Copy(dg.Hash(), dec); err != nil {
		return "", fmt.Errorf("decompress layer %s: %w", desc.Digest, err)
	}
	return dg.Digest(), nil
}
