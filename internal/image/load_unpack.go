package image

import (
	"context"
	"errors"
	"fmt"

	"github.com/berth-project/berth/internal/snapshot"
	digest "github.com/opencontainers/go-digest"
)

// LoadOption tunes Load.
type LoadOption func(*loadOptions)

type loadOptions struct {
	sn snapshot.Snapshotter
}

// WithUnpack makes Load also unpack the loaded images for this platform
// into sn before storing their records, so that a load that returns
// without error leaves images ready to run. On overlay, each layer is
// unpacked as soon as its blob is stored, while the rest of the archive
// streams in (see earlyUnpacker); the blob write and the extraction are
// not in lockstep (that was slower on 2 CPUs): the extraction reads the
// stored blob back from the page cache.
func WithUnpack(sn snapshot.Snapshotter) LoadOption {
	return func(o *loadOptions) { o.sn = sn }
}

// unpackLoaded unpacks each distinct loaded target, adopting the layers
// early unpacked.
func (s *Store) unpackLoaded(ctx context.Context, sn snapshot.Snapshotter, loaded []LoadedImage, early *earlyUnpacker) error {
	done := map[digest.Digest]bool{}
	for _, li := range loaded {
		if done[li.Target.Digest] {
			continue
		}
		done[li.Target.Digest] = true
		r, err := Resolve(ctx, s.cs, li.Target, s.platform)
		if errors.Is(err, ErrNotFound) {
			continue // not for this platform
		}
		if err != nil {
			return err
		}
		if _, err := unpack(ctx, s.cs, sn, r.Manifest, early); err != nil {
			return fmt.Errorf("unpack %s: %w", r.ID(), err)
		}
	}
	return nil
}
