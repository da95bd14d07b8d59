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
// without error leaves images ready to run.
//
// (Extracting layers while they stream in was tried: with the blob write
// and the extraction in lockstep it was slower on 2 CPUs than storing the
// archive first and then extracting its layers in parallel from the page
// cache, which Unpack does.)
func WithUnpack(sn snapshot.Snapshotter) LoadOption {
	return func(o *loadOptions) { o.sn = sn }
}

// unpackLoaded unpacks each distinct loaded target.
func (s *Store) unpackLoaded(ctx context.Context, sn snapshot.Snapshotter, loaded []LoadedImage) error {
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
		if _, err := Unpack(ctx, s.cs, sn, r.Manifest); err != nil {
			return fmt.Errorf("unpack %s: %w", r.ID(), err)
		}
	}
	return nil
}
