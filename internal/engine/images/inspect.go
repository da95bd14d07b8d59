package images

import (
	"context"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	imagetypes "github.com/moby/moby/api/types/image"

	"github.com/berth-project/berth/internal/image"
)

// Inspect is GET /images/{name}/json.
func (s *Service) Inspect(ctx context.Context, ref string) (imagetypes.InspectResponse, error) {
	img, r, err := s.lookup(ctx, ref)
	if err != nil {
		return imagetypes.InspectResponse{}, err
	}
	recs, err := s.store.Names(ctx, r.ID())
	if err != nil {
		return imagetypes.InspectResponse{}, err
	}
	tags, digests, lastTag := image.RepoNames(recs)
	cfg := r.Config
	resp := imagetypes.InspectResponse{
		ID: r.ID().String(), RepoTags: tags, RepoDigests: digests,
		Comment: cfg.Comment, Author: cfg.Author,
		Config:       dockerConfig(cfg.Config),
		Architecture: cfg.Architecture, Variant: cfg.Variant, Os: cfg.OS, OsVersion: cfg.OSVersion,
		Size:       s.store.Size(ctx, r),
		RootFS:     imagetypes.RootFS{Type: cfg.RootFS.Type},
		Descriptor: &img.Target,
	}
	if cfg.Created != nil {
		resp.Created = cfg.Created.UTC().Format(time.RFC3339Nano)
	}
	for _, d := range cfg.RootFS.DiffIDs {
		resp.RootFS.Layers = append(resp.RootFS.Layers, d.String())
	}
	if !lastTag.IsZero() {
		resp.Metadata.LastTagTime = lastTag
	}
	return resp, nil
}

// dockerConfig converts an image's run config to the Engine API's type.
func dockerConfig(c image.RunConfig) *dockerspec.DockerOCIImageConfig {
	out := &dockerspec.DockerOCIImageConfig{ImageConfig: c.ImageConfig}
	out.OnBuild, out.Shell = c.OnBuild, c.Shell
	if h := c.Healthcheck; h != nil {
		out.Healthcheck = &dockerspec.HealthcheckConfig{
			Test: h.Test, Interval: time.Duration(h.Interval), Timeout: time.Duration(h.Timeout),
			StartPeriod: time.Duration(h.StartPeriod), StartInterval: time.Duration(h.StartInterval), Retries: h.Retries,
		}
	}
	return out
}
