package daemon

import (
	"context"
	"io"
	"path/filepath"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"crypto/rand"
	"encoding/hex"
	crec "github.com/berth-project/berth/internal/container"
	enginedist "github.com/berth-project/berth/internal/engine/distribution"
	"github.com/berth-project/berth/internal/engine/networks"
	"github.com/berth-project/berth/internal/image/platform"
	"github.com/moby/moby/api/types/container"

	enginebuild "github.com/berth-project/berth/internal/engine/build"
	"github.com/berth-project/berth/internal/image"
	"github.com/berth-project/berth/internal/snapshot"
)

// openBuilder opens the build service over the image store and the
// snapshotter, and registers its cache as a holder of layers, so that
// image GC and snapshot pruning leave the build cache alone.
func openBuilder(cfg *Config, store *image.Store, sn snapshot.Snapshotter) (*enginebuild.Service, error) {
	svc, err := enginebuild.New(enginebuild.Config{
		Root:         filepath.Join(cfg.DataRoot, "build"),
		ExecRoot:     cfg.ExecRoot,
		Store:        store,
		Snapshotter:  sn,
		CgroupParent: cfg.CgroupParent,
	})
	if err != nil {
		return nil, err
	}
	store.AddHolder(svc)
	return svc, nil
}

// pullForBuild pulls the base image of a build (FROM of an image the
// store lacks, or --pull).
func (r registries) pullForBuild(ctx context.Context, ref string, p ocispec.Platform, auth string, out io.Writer) error {
	return r.Service.Pull(ctx, ref, enginedist.PullOptions{Platform: platform.Format(p), RegistryAuth: auth}, out)
}

// buildNetwork attaches RUN steps to the default bridge network, as a
// container of the networks service without a record of its own.
type buildNetwork struct{ nets *networks.Service }

// Attach implements enginebuild.StepNetwork.
func (b buildNetwork) Attach(ctx context.Context, id, hostname, dir string) (string, func(), error) {
	raw := make([]byte, 32)
	rand.Read(raw)
	c := &crec.Container{ID: hex.EncodeToString(raw), Name: "build-" + id, Dir: dir,
		Config:     &container.Config{Hostname: hostname},
		HostConfig: &container.HostConfig{NetworkMode: "bridge"}}
	eps, _, err := b.nets.Validate(c.Config, c.HostConfig, nil)
	if err != nil {
		return "", nil, err
	}
	c.Networks = eps
	ns, err := b.nets.Setup(ctx, c)
	if err != nil {
		b.nets.Teardown(ctx, c)
		return "", nil, err
	}
	return ns, func() { b.nets.Teardown(context.WithoutCancel(ctx), c) }, nil
}
