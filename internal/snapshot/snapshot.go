// Package snapshot defines the Snapshotter interface: a store of
// copy-on-write filesystem trees stacked by parent, with the semantics of
// containerd's core/snapshots, simplified. Implementations live in the
// overlay and native subpackages and all pass snapshot/testsuite.
package snapshot

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/mount"
)

// Kind is the state of a snapshot.
type Kind int

const (
	// KindUnknown is the zero Kind.
	KindUnknown Kind = iota
	// KindView is a read-only snapshot made by View; it cannot be committed.
	KindView
	// KindActive is a writable snapshot made by Prepare.
	KindActive
	// KindCommitted is an immutable snapshot made by Commit; it can be a parent.
	KindCommitted
)

func (k Kind) String() string {
	switch k {
	case KindView:
		return "View"
	case KindActive:
		return "Active"
	case KindCommitted:
		return "Committed"
	default:
		return "Unknown"
	}
}

// Info describes a snapshot.
type Info struct {
	Name    string            // key of an active or view snapshot, name of a committed one
	Parent  string            // name of the committed parent, "" for none
	Kind    Kind              // view, active or committed
	Labels  map[string]string // caller-defined labels
	Created time.Time         // when the snapshot (or its active predecessor) was made
	Updated time.Time         // when the snapshot was last changed (committed)
}

// Usage is the disk usage of a snapshot's own layer (not its parents').
type Usage struct {
	Size   int64 // bytes of disk used
	Inodes int64 // number of inodes
}

// Sentinel errors; implementations wrap them with %w.
var (
	ErrNotFound           = errdefs.NotFound(errors.New("snapshot not found"))
	ErrAlreadyExists      = errdefs.Conflict(errors.New("snapshot already exists"))
	ErrFailedPrecondition = errdefs.Conflict(errors.New("failed precondition"))
)

// Snapshotter stores snapshots: layered filesystem trees. Keys of active and
// view snapshots and names of committed ones share one namespace.
type Snapshotter interface {
	// Prepare makes a writable snapshot key on top of the committed parent
	// ("" for an empty tree) and returns the mounts that show it.
	Prepare(ctx context.Context, key, parent string, labels map[string]string) ([]mount.Mount, error)
	// View makes a read-only snapshot key of the committed parent.
	View(ctx context.Context, key, parent string, labels map[string]string) ([]mount.Mount, error)
	// Mounts returns the mounts of an active or view snapshot.
	Mounts(ctx context.Context, key string) ([]mount.Mount, error)
	// Commit turns the active snapshot key into the committed snapshot name.
	Commit(ctx context.Context, name, key string, labels map[string]string) error
	// Stat describes the snapshot key.
	Stat(ctx context.Context, key string) (Info, error)
	// Usage returns the disk usage of snapshot key's own layer.
	Usage(ctx context.Context, key string) (Usage, error)
	// Remove deletes snapshot key; it refuses with ErrFailedPrecondition
	// when other snapshots have it as parent.
	Remove(ctx context.Context, key string) error
	// Walk calls fn for every snapshot, in name order.
	Walk(ctx context.Context, fn func(Info) error) error
	// UpperDir returns the directory that archive.Apply should write a new
	// layer into for the active snapshot key (overlay: its upper dir;
	// native: the full copy), and whether it is an overlay upper dir.
	UpperDir(ctx context.Context, key string) (dir string, overlay bool, err error)
	// Close releases the snapshotter's resources.
	Close() error
}

// LowerDirs returns the lower dirs, newest first, of the active snapshot
// key when sn stacks layers with overlayfs, for archive.ApplyOptions.Parents;
// it returns nil for snapshotters without lower dirs.
func LowerDirs(ctx context.Context, sn Snapshotter, key string) ([]string, error) {
	if l, ok := sn.(interface {
		LowerDirs(ctx context.Context, key string) ([]string, error)
	}); ok {
		return l.LowerDirs(ctx, key)
	}
	return nil, nil
}

// ReadOnlyMounts returns mounts that show the whole tree of the active
// snapshot key read-only, and that may be mounted while the snapshot is
// mounted writable elsewhere (a running container's root filesystem), for
// snapshotters that support it.
func ReadOnlyMounts(ctx context.Context, sn Snapshotter, key string) ([]mount.Mount, error) {
	if r, ok := sn.(interface {
		ReadOnlyMounts(ctx context.Context, key string) ([]mount.Mount, error)
	}); ok {
		return r.ReadOnlyMounts(ctx, key)
	}
	return nil, fmt.Errorf("read-only mounts of %q: not supported by this snapshotter: %w", key, ErrFailedPrecondition)
}

// ParentDir returns, for snapshotters that keep every snapshot as a full
// copy (no lower dirs), the directory with the whole tree of the parent
// of snapshot key, to compare the snapshot against ("" when there is no
// parent, or for overlay, whose upper dir alone holds the changes).
func ParentDir(ctx context.Context, sn Snapshotter, key string) (string, error) {
	if r, ok := sn.(interface {
		ParentDir(ctx context.Context, key string) (string, error)
	}); ok {
		return r.ParentDir(ctx, key)
	}
	return "", nil
}

// A Batch defers the durability of the snapshots committed under it (see
// BeginBatch) to one flush of the filesystem at its end.
type Batch interface {
	// Root is a directory on the snapshotter's filesystem: flush it
	// (syncfs) before Finish.
	Root() string
	// Finish marks the batch's snapshots durable; call it after the
	// filesystem was flushed. Until then, a snapshotter opened after the
	// batch's holder died removes them (their data may not have reached
	// the disk), and a snapshot prepared outside a batch on top of one
	// makes them durable first.
	Finish() error
}

type batchKey struct{}

// BeginBatch starts a batch for sn and returns a context under which
// Prepare and Commit do not sync. Snapshotters without batches return ctx
// and a batch that does nothing.
func BeginBatch(ctx context.Context, sn Snapshotter) (context.Context, Batch, error) {
	b, ok := sn.(interface{ BeginBatch() (Batch, error) })
	if !ok {
		return ctx, noBatch{}, nil
	}
	batch, err := b.BeginBatch()
	if err != nil {
		return ctx, nil, err
	}
	return context.WithValue(ctx, batchKey{}, batch), batch, nil
}

// BatchOf returns the batch of ctx, or nil.
func BatchOf(ctx context.Context) Batch {
	b, _ := ctx.Value(batchKey{}).(Batch)
	return b
}

type noBatch struct{}

func (noBatch) Root() string  { return "" }
func (noBatch) Finish() error { return nil }

// CanReparent reports whether sn supports Reparent.
func CanReparent(sn Snapshotter) bool {
	r, ok := sn.(interface{ CanReparent() bool })
	return ok && r.CanReparent()
}

// Reparent makes the active snapshot key, on which nothing is built, a
// child of the committed snapshot parent: a layer can be unpacked before
// the layers below it are known (its directories that the layer does
// not describe are then fixed with archive.FixImplicitDirs). Only
// snapshotters whose snapshots do not contain their parents (overlay)
// support it.
func Reparent(ctx context.Context, sn Snapshotter, key, parent string) error {
	r, ok := sn.(interface {
		Reparent(ctx context.Context, key, parent string) error
	})
	if !ok || !CanReparent(sn) {
		return fmt.Errorf("reparent %q: not supported by this snapshotter: %w", key, ErrFailedPrecondition)
	}
	return r.Reparent(ctx, key, parent)
}
