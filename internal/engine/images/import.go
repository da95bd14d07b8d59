package images

import (
	"context"
	"io"
	"strings"

	eventtypes "github.com/moby/moby/api/types/events"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/image"
	"github.com/berth-project/berth/internal/image/platform"
	"github.com/berth-project/berth/internal/image/reference"
)

// ImportOptions are the parameters of POST /images/create?fromSrc=-.
type ImportOptions struct {
	Repo, Tag string   // the new image's name ("" for none)
	Message   string   // comment; default "Imported from -"
	Changes   []string // Dockerfile instructions applied to the config
	Platform  string   // os/arch[/variant] of the image; default this host
}

// Import makes a one-layer image from a root filesystem tar (optionally
// gzip or zstd compressed) and returns its ID.
func (s *Service) Import(ctx context.Context, rootfs io.Reader, opts ImportOptions) (string, error) {
	name, err := imageName(opts.Repo, opts.Tag)
	if err != nil {
		return "", err
	}
	co := image.CommitOptions{Name: name, Changes: opts.Changes, Comment: opts.Message}
	if co.Comment == "" {
		co.Comment = "Imported from -"
	}
	if opts.Platform != "" {
		p, err := platform.Parse(opts.Platform)
		if err != nil {
			return "", errdefs.InvalidArgumentf("invalid platform %q: %w", opts.Platform, err)
		}
		co.Platform = &p
	}
	li, err := s.store.Import(ctx, rootfs, co)
	if err != nil {
		return "", err
	}
	ev := li.ID.String()
	if li.Name != "" {
		ev = reference.Familiar(li.Name)
	}
	s.emit(eventtypes.ActionImport, li.ID.String(), ev)
	return li.ID.String(), nil
}

// imageName is repo (which may carry a tag) with tag, normalised; "" when
// repo is empty.
func imageName(repo, tag string) (string, error) {
	if repo == "" {
		return "", nil
	}
	named, err := reference.ParseNamed(repo)
	if err != nil {
		return "", errdefs.InvalidArgumentf("invalid reference format: %q", repo)
	}
	if reference.Digest(named) != "" {
		return "", errdefs.InvalidArgumentf("refusing to create a tag with a digest reference")
	}
	if tag != "" {
		if strings.HasPrefix(tag, "sha256:") {
			return "", errdefs.InvalidArgumentf("refusing to create an ambiguous tag using digest algorithm as name")
		}
		if named, err = reference.WithTag(named, tag); err != nil {
			return "", errdefs.InvalidArgumentf("invalid tag format")
		}
	}
	n, err := reference.Parse(named.String())
	if err != nil {
		return "", err
	}
	return n.String(), nil
}
