// Package container holds berth's container records, their state machine
// and the store that keeps them in a crash-safe embedded database.
package container

import (
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

// Container is one container's record, as the daemon stores it.
type Container struct {
	ID      string
	Name    string // without the leading "/"
	Created time.Time
	// Image is the reference the user asked for; ImageID what it resolved to.
	Image      string
	ImageID    string
	Path       string
	Args       []string
	Config     *container.Config
	HostConfig *container.HostConfig
	Mounts     []container.MountPoint
	Runtime    string
	State      State
	// RestartCount counts restarts by the restart policy since the last
	// start by the user.
	RestartCount int
	// ManuallyStopped is set by stop/kill from the user, so that
	// unless-stopped containers stay down across daemon restarts.
	ManuallyStopped bool
	// Dir is the container's directory: bundle, log, shim state.
	Dir     string
	LogPath string
	// Networks are the container's endpoints by network name: what was
	// asked at create or connect, plus the address and devices while it
	// runs. Ports are its published ports and SandboxKey its network
	// namespace file while it runs.
	Networks   map[string]*network.EndpointSettings `json:",omitempty"`
	Ports      network.PortMap                      `json:",omitempty"`
	SandboxKey string                               `json:",omitempty"`
}

// Summary returns the container's status line as `docker ps` prints it.
func (c *Container) Summary(now time.Time) string { return c.State.Describe(now) }
