// Package container holds berth's container records, their state machine
// and the store that keeps them in a crash-safe embedded database.
package container

import (
	"path/filepath"
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
	Dir string
	// LogPath is the json-file log (Docker's inspect field; "" for other
	// drivers: see LogFile).
	LogPath string
	// Networks are the container's endpoints by network name: what was
	// asked at create or connect, plus the address and devices while it
	// runs. Ports are its published ports and SandboxKey its network
	// namespace file while it runs.
	Networks   map[string]*network.EndpointSettings `json:",omitempty"`
	Ports      network.PortMap                      `json:",omitempty"`
	SandboxKey string                               `json:",omitempty"`
}

// LogFile is the file the container's log driver writes ("" for none)
// and whether it has the local driver's format; rotated files are
// FILE.N or, compressed, FILE.N.gz.
func (c *Container) LogFile() (string, bool) {
	if c.HostConfig != nil && c.HostConfig.LogConfig.Type == "local" {
		return filepath.Join(c.Dir, "local-logs", "container.log"), true
	}
	return c.LogPath, false
}

// Summary returns the container's status line as `docker ps` prints it.
func (c *Container) Summary(now time.Time) string { return c.State.Describe(now) }
