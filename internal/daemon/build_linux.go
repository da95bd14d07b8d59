package daemon

import (
	"path/filepath"

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
