package image

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/berth-project/berth/internal/archive"
	"github.com/berth-project/berth/internal/content"
	"github.com/berth-project/berth/internal/image/platform"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// CommitOptions describe the image Commit makes.
type CommitOptions struct {
	Name      string     // reference to tag the new image with; "" leaves it untagged
	Config    *RunConfig // replaces the parent's run config, before Changes
	Changes   []string   // Dockerfile instructions (see ApplyChanges)
	Author    string
	Comment   string // the config's comment and its history entry's
	CreatedBy string // history created_by
	Created   time.Time
	Platform  *ocispec.Platform // for a parentless image; default: this host
}

// Commit makes a new image from parent (a name or ID; "" for none) plus
// one layer read from layer (a tar, optionally gzip/zstd compressed; it is
// stored uncompressed, so its digest is its diff ID). It is `docker
// commit` with a diff from archive.Diff and `docker import` without a
// parent.
func (s *Store) Commit(ctx context.Context, parent string, layer io.Reader, opts CommitOptions) (LoadedImage, error) {
	lease, err := s.cs.Lease(ctx)
	if err != nil {
		return LoadedImage{}, err
	}
	defer lease.Release()

	var cfg Config
	var man ocispec.Manifest
	if parent != "" {
		img, err := s.Resolve(ctx, parent)
		if err != nil {
			return LoadedImage{}, fmt.Errorf("commit: parent: %w", err)
		}
		r, err := Resolve(ctx, s.cs, img.Target, s.platform)
		if err != nil {
			return LoadedImage{}, fmt.Errorf("commit: parent: %w", err)
		}
		if err := json.Unmarshal(r.ConfigRaw, &cfg); err != nil {
			return LoadedImage{}, fmt.Errorf("commit: parent config: %w", err)
		}
		cfg.Parent = r.ID().String()
		man.Layers = r.Manifest.Layers
	} else {
		p := platform.Host()
		if p.Architecture == "amd64" {
			// x86-64 levels say what a binary needs; a filesystem made
			// here is not known to need more than the baseline (Docker
			// sets none either), and the image stays the same on every
			// amd64 machine.
			p.Variant = ""
		}
		if opts.Platform != nil {
			p = platform.Normalize(*opts.Platform)
		}
		cfg.OS, cfg.Architecture, cfg.Variant = p.OS, p.Architecture, p.Variant
		cfg.RootFS.Type = "layers"
	}
	if opts.Config != nil {
		cfg.Config = *opts.Config
	}
	if err := ApplyChanges(&cfg.Config, opts.Changes); err != nil {
		return LoadedImage{}, fmt.Errorf("commit: %w", err)
	}

	dec, err := archive.Decompress(layer)
	if err != nil {
		return LoadedImage{}, fmt.Errorf("commit: layer: %w", err)
	}
	defer dec.Close()
	diffID, size, err := s.cs.WriteBlob(ctx, "commit-"+content.RandomID(), dec, "", 0, nil)
	if err != nil {
		return LoadedImage{}, fmt.Errorf("commit: store layer: %w", err)
	}

	created := opts.Created
	if created.IsZero() {
		created = time.Now().UTC()
	}
	cfg.Created = &created
	if opts.Author != "" {
		cfg.Author = opts.Author
	}
	cfg.Comment = opts.Comment
	cfg.DockerVersion = ""
	cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, diffID)
	cfg.History = append(cfg.History, ocispec.History{Created: &created, CreatedBy: opts.CreatedBy, Comment: opts.Comment, Author: opts.Author})
	cfgBytes, err := json.Marshal(cfg)
	if err != nil {
		return LoadedImage{}, fmt.Errorf("commit: encode config: %w", err)
	}
	cfgDigest, err := s.cs.WriteBytes(ctx, cfgBytes, nil)
	if err != nil {
		return LoadedImage{}, fmt.Errorf("commit: %w", err)
	}
	man.SchemaVersion = 2
	man.MediaType = ocispec.MediaTypeImageManifest
	man.Config = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: cfgDigest, Size: int64(len(cfgBytes))}
	man.Layers = append(append([]ocispec.Descriptor(nil), man.Layers...), ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: diffID, Size: size})
	manBytes, err := json.Marshal(man)
	if err != nil {
		return LoadedImage{}, fmt.Errorf("commit: encode manifest: %w", err)
	}
	manDigest, err := s.cs.WriteBytes(ctx, manBytes, nil)
	if err != nil {
		return LoadedImage{}, fmt.Errorf("commit: %w", err)
	}
	target := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: manDigest, Size: int64(len(manBytes))}
	loaded, err := s.storeLoaded(ctx, []LoadedImage{{Name: opts.Name, ID: cfgDigest, Target: target}}, time.Now().UTC())
	if err != nil {
		return LoadedImage{}, fmt.Errorf("commit: %w", err)
	}
	return loaded[0], nil
}

// Import makes a one-layer image from a root filesystem tar (`docker
// import`), with the --change instructions in opts.Changes.
func (s *Store) Import(ctx context.Context, rootfs io.Reader, opts CommitOptions) (LoadedImage, error) {
	if opts.Comment == "" {
		opts.Comment = "Imported from -"
	}
	li, err := s.Commit(ctx, "", rootfs, opts)
	if err != nil {
		return li, fmt.Errorf("import: %w", err)
	}
	return li, nil
}
