// Package containers serves the /containers and /exec endpoints.
package containers

import (
	"context"
	"io"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	crec "github.com/berth-project/berth/internal/container"
	engine "github.com/berth-project/berth/internal/engine/containers"
)

// Backend is what the container routes need from the engine.
type Backend interface {
	Create(ctx context.Context, name string, cfg *container.Config, hc *container.HostConfig, nc *network.NetworkingConfig) (engine.CreateResult, error)
	Get(ref string) (*crec.Container, error)
	Inspect(ctx context.Context, ref string) (container.InspectResponse, error)
	ListSummaries(ctx context.Context, opts engine.ListOptions) ([]container.Summary, error)
	Start(ctx context.Context, ref string) error
	Stop(ctx context.Context, ref, signal string, timeout *int) error
	Restart(ctx context.Context, ref, signal string, timeout *int) error
	Kill(ctx context.Context, ref, signal string) error
	Wait(ctx context.Context, ref string, cond container.WaitCondition) (<-chan engine.WaitResult, error)
	Remove(ctx context.Context, ref string, opts engine.RemoveOptions) error
	Prune(ctx context.Context, filters map[string][]string) (container.PruneReport, error)
	Update(ctx context.Context, ref string, upd container.UpdateConfig) ([]string, error)
	Pause(ctx context.Context, ref string) error
	Unpause(ctx context.Context, ref string) error
	Rename(ctx context.Context, ref, newName string) error
	Top(ctx context.Context, ref, psArgs string) (container.TopResponse, error)
	Logs(ctx context.Context, ref string, opts engine.LogsOptions, w io.Writer, flush func()) error
	IsTTY(ref string) (bool, error)
	Attach(ctx context.Context, ref string, opts engine.AttachOptions, hijack func() (engine.ClientConn, error)) error
	Resize(ctx context.Context, ref string, height, width uint16) error
	Stats(ctx context.Context, ref string, stream, oneShot bool, send func(container.StatsResponse) error) error
	StatPath(ctx context.Context, ref, path string) (container.PathStat, error)
	ArchivePath(ctx context.Context, ref, path string, start func(container.PathStat), w io.Writer) error
	ExtractToDir(ctx context.Context, ref, path string, r io.Reader) error
	ExecCreate(ctx context.Context, ref string, req container.ExecCreateRequest) (string, error)
	ExecIsTTY(id string) (bool, error)
	ExecStart(ctx context.Context, id string, detach bool, conn engine.ClientConn) error
	ExecInspect(ctx context.Context, id string) (container.ExecInspectResponse, error)
	ExecResize(ctx context.Context, id string, height, width uint16) error
}
