package image

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/berth-project/berth/internal/content"
	"github.com/berth-project/berth/internal/image/platform"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func contentGCDefaults() content.GCOptions { return content.GCOptions{} }

type contentInfo = content.Info

func putJSON(t *testing.T, s *Store, v any) ocispec.Descriptor {
	t.Helper()
	b, _ := json.Marshal(v)
	d, err := s.Content().WriteBytes(context.Background(), b, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ocispec.Descriptor{Digest: d, Size: int64(len(b))}
}

// TestPlatformSelection resolves a multi-platform index (Docker manifest
// list style, with an attestation entry) for several hosts.
func TestPlatformSelection(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	mk := func(arch, variant string) ocispec.Descriptor {
		var cfg Config
		cfg.OS, cfg.Architecture, cfg.Variant = "linux", arch, variant
		cfg.RootFS.Type = "layers"
		c := putJSON(t, s, cfg)
		c.MediaType = MediaTypeDockerConfig
		m := putJSON(t, s, map[string]any{"schemaVersion": 2, "mediaType": MediaTypeDockerManifest, "config": c, "layers": []any{}})
		m.MediaType = MediaTypeDockerManifest
		m.Platform = &ocispec.Platform{OS: "linux", Architecture: arch, Variant: variant}
		return m
	}
	amd64, amd64v3, arm64, armv6, armv7 := mk("amd64", ""), mk("amd64", "v3"), mk("arm64", "v8"), mk("arm", "v6"), mk("arm", "v7")
	att := putJSON(t, s, map[string]any{"schemaVersion": 2, "mediaType": ocispec.MediaTypeImageManifest, "config": amd64, "layers": []any{}})
	att.MediaType = ocispec.MediaTypeImageManifest
	att.Platform = &ocispec.Platform{OS: "unknown", Architecture: "unknown"}
	att.Annotations = map[string]string{"vnd.docker.reference.type": "attestation-manifest"}
	idx := putJSON(t, s, map[string]any{"schemaVersion": 2, "mediaType": MediaTypeDockerManifestList,
		"manifests": []ocispec.Descriptor{att, armv6, amd64, arm64, amd64v3, armv7}})
	idx.MediaType = MediaTypeDockerManifestList

	for host, want := range map[string]ocispec.Descriptor{
		"linux/amd64":    amd64,
		"linux/amd64/v2": amd64,
		"linux/amd64/v4": amd64v3,
		"linux/arm64":    arm64,
		"linux/arm/v7":   armv7,
		"linux/arm/v6":   armv6,
	} {
		p, _ := platform.Parse(host)
		r, err := Resolve(ctx, s.Content(), idx, platform.Only(p))
		if err != nil {
			t.Fatalf("%s: %v", host, err)
		}
		if r.Descriptor.Digest != want.Digest {
			t.Errorf("%s: got %s/%s", host, r.Config.Architecture, r.Config.Variant)
		}
	}
	p, _ := platform.Parse("linux/s390x")
	if _, err := Resolve(ctx, s.Content(), idx, platform.Only(p)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("s390x: %v", err)
	}
	// The host default picks an amd64 manifest on this machine.
	if r, err := Resolve(ctx, s.Content(), idx, platform.Default()); err != nil || r.Config.Architecture != platform.Host().Architecture {
		t.Fatalf("default: %v %v", r.Config.Architecture, err)
	}
}
