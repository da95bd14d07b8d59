// Package images serves the image endpoints (/images/...), the container
// filesystem endpoints that make or read layers (/commit,
// /containers/{id}/changes, /containers/{id}/export) and /system/df.
package images

import (
	"context"
	"io"

	containertypes "github.com/moby/moby/api/types/container"
	imagetypes "github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/system"

	engine "github.com/berth-project/berth/internal/engine/images"
)

// Backend is what the image routes need from the engine.
type Backend interface {
	List(ctx context.Context, opts engine.ListOptions) ([]imagetypes.Summary, error)
	Inspect(ctx context.Context, ref string) (imagetypes.InspectResponse, error)
	History(ctx context.Context, ref string) ([]imagetypes.HistoryResponseItem, error)
	Tag(ctx context.Context, source, repo, tag string) error
	Remove(ctx context.Context, ref string, opts engine.RemoveOptions) ([]imagetypes.DeleteResponse, error)
	Prune(ctx context.Context, filters map[string][]string) (imagetypes.PruneReport, error)
	Load(ctx context.Context, r io.Reader) ([]string, error)
	CheckSave(ctx context.Context, refs []string) error
	Save(ctx context.Context, refs []string, w io.Writer) error
	Import(ctx context.Context, rootfs io.Reader, opts engine.ImportOptions) (string, error)
	Commit(ctx context.Context, opts engine.CommitOptions) (string, error)
	Changes(ctx context.Context, container string) ([]containertypes.FilesystemChange, error)
	Export(ctx context.Context, container string, w io.Writer) error
	DiskUsage(ctx context.Context, opts engine.DiskUsageOptions) (system.DiskUsage, error)
}

// PullRequest is a POST /images/create?fromImage=... request.
type PullRequest struct {
	// Ref is the image to pull: fromImage with tag (name:tag) or digest
	// (name@sha256:...), as the client gave it (not normalised).
	Ref string
	// Platform is the platform asked for ("os/arch[/variant]"), "" for
	// this host's.
	Platform string
	// RegistryAuth is the X-Registry-Auth header (base64url JSON of the
	// credentials), "" for none.
	RegistryAuth string
}

// Puller pulls images from registries. Pull reports progress to out as
// Docker's JSON messages (one jsonstream.Message per line); the image is
// stored when it returns nil. An error returned before anything was
// written to out is answered with its HTTP status, after that as a JSON
// error message in the stream.
type Puller interface {
	Pull(ctx context.Context, req PullRequest, out io.Writer) error
}

// PushRequest is a POST /images/{name}/push request.
type PushRequest struct {
	Ref          string // name, with the tag query parameter applied
	RegistryAuth string // X-Registry-Auth header
}

// Pusher pushes images to registries; see Puller for out and errors.
type Pusher interface {
	Push(ctx context.Context, req PushRequest, out io.Writer) error
}
