package daemon

import (
	"context"
	"io"

	imagesrouter "github.com/berth-project/berth/internal/apiserver/router/images"
	"github.com/berth-project/berth/internal/distribution"
	enginedist "github.com/berth-project/berth/internal/engine/distribution"
	"github.com/berth-project/berth/internal/engine/events"
	"github.com/berth-project/berth/internal/image"
	"github.com/berth-project/berth/internal/snapshot"
)

// registries adapts the engine's pull/push service to the image router's
// Puller and Pusher.
type registries struct{ *enginedist.Service }

func newRegistries(cfg *Config, store *image.Store, sn snapshot.Snapshotter, bus *events.Bus) registries {
	return registries{enginedist.New(enginedist.Config{
		Store: store, Snapshotter: sn, Events: bus,
		Client: distribution.Options{
			Mirrors:            cfg.RegistryMirrors,
			InsecureRegistries: cfg.InsecureRegistries,
			UserAgent:          "berth/" + Version,
		},
	})}
}

// Pull implements imagesrouter.Puller.
func (r registries) Pull(ctx context.Context, req imagesrouter.PullRequest, out io.Writer) error {
	return r.Service.Pull(ctx, req.Ref, enginedist.PullOptions{Platform: req.Platform, RegistryAuth: req.RegistryAuth}, out)
}

// Push implements imagesrouter.Pusher.
func (r registries) Push(ctx context.Context, req imagesrouter.PushRequest, out io.Writer) error {
	return r.Service.Push(ctx, req.Ref, enginedist.PushOptions{RegistryAuth: req.RegistryAuth}, out)
}
