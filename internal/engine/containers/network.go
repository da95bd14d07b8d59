package containers

import (
	"context"
	"log"
	"net/netip"
	"sort"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	crec "github.com/berth-project/berth/internal/container"
	"github.com/berth-project/berth/internal/errdefs"
)

// Network is what containers need from networking (engine/networks).
type Network interface {
	// Validate checks a create request's networking, sets the default
	// network mode and returns the endpoint configs by network name and
	// any warnings.
	Validate(cfg *container.Config, hc *container.HostConfig, nc *network.NetworkingConfig) (map[string]*network.EndpointSettings, []string, error)
	// Setup prepares c's networking and /etc files before it starts and
	// returns the network namespace to join ("": a new one).
	Setup(ctx context.Context, c *crec.Container) (string, error)
	// Ready waits until what Setup started in the background (the
	// veths, which take the kernel a few milliseconds) is in place; the
	// container's process must not start before.
	Ready(ctx context.Context, c *crec.Container) error
	// Teardown undoes Setup; it reports whether c changed.
	Teardown(ctx context.Context, c *crec.Container) bool
	// Connect and Disconnect change c's networks (plugging a running
	// container in or out).
	Connect(ctx context.Context, c *crec.Container, network string, es *network.EndpointSettings) error
	Disconnect(ctx context.Context, c *crec.Container, network string, force bool) error
	// Rename makes DNS answer for c's new name instead of old.
	Rename(c *crec.Container, old string)
}

// setupNetwork prepares c's network; without a Network only none and host
// exist, and buildSpec writes the /etc files.
func (s *Service) setupNetwork(ctx context.Context, c *crec.Container) (string, error) {
	if s.cfg.Network == nil {
		return "", nil
	}
	return s.cfg.Network.Setup(ctx, c)
}

// networkReady waits for the network Setup started.
func (s *Service) networkReady(ctx context.Context, c *crec.Container) error {
	if s.cfg.Network == nil {
		return nil
	}
	return s.cfg.Network.Ready(ctx, c)
}

// teardownNetwork releases c's network; it reports whether c changed.
func (s *Service) teardownNetwork(ctx context.Context, c *crec.Container) bool {
	if s.cfg.Network == nil {
		return false
	}
	return s.cfg.Network.Teardown(ctx, c)
}

// Connect attaches a container to a network (POST /networks/{id}/connect).
func (s *Service) Connect(ctx context.Context, network, ref string, es *network.EndpointSettings) error {
	return s.changeNetworks(ref, func(c *crec.Container) error {
		return s.cfg.Network.Connect(ctx, c, network, es)
	})
}

// Disconnect detaches a container from a network.
func (s *Service) Disconnect(ctx context.Context, network, ref string, force bool) error {
	return s.changeNetworks(ref, func(c *crec.Container) error {
		return s.cfg.Network.Disconnect(ctx, c, network, force)
	})
}

func (s *Service) changeNetworks(ref string, change func(*crec.Container) error) error {
	if s.cfg.Network == nil {
		return errdefs.NotImplemented(errNoNetworks)
	}
	c, unlock, err := s.getLocked(ref)
	if err != nil {
		return err
	}
	defer unlock()
	cerr := change(c)
	if err := s.save(c); err != nil {
		log.Printf("container %s: %v", c.ID[:12], err)
	}
	return cerr
}

type constError string

func (e constError) Error() string { return string(e) }

const errNoNetworks = constError("this daemon has no networks")

// networkSettings is c's NetworkSettings in the API's shape.
func networkSettings(c *crec.Container) *container.NetworkSettings {
	ns := &container.NetworkSettings{Networks: endpoints(c), Ports: c.Ports, SandboxKey: c.SandboxKey}
	if ns.Ports == nil {
		ns.Ports = network.PortMap{}
	}
	return ns
}

func endpoints(c *crec.Container) map[string]*network.EndpointSettings {
	out := map[string]*network.EndpointSettings{}
	for name, es := range c.Networks {
		out[name] = es.Copy()
	}
	if len(out) == 0 && !c.HostConfig.NetworkMode.IsContainer() {
		mode := string(c.HostConfig.NetworkMode)
		if mode == "" || mode == "default" {
			mode = "none"
		}
		out[mode] = &network.EndpointSettings{}
	}
	return out
}

// portSummary is c's published ports as `ps` lists them.
func portSummary(c *crec.Container) []container.PortSummary {
	out := []container.PortSummary{}
	for p, bs := range c.Ports {
		if len(bs) == 0 {
			out = append(out, container.PortSummary{PrivatePort: p.Num(), Type: string(p.Proto())})
		}
		for _, b := range bs {
			var pub uint16
			for _, ch := range b.HostPort {
				pub = pub*10 + uint16(ch-'0')
			}
			ip := b.HostIP
			if !ip.IsValid() {
				ip = netip.IPv4Unspecified()
			}
			out = append(out, container.PortSummary{IP: ip, PrivatePort: p.Num(), PublicPort: pub, Type: string(p.Proto())})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].PrivatePort != out[j].PrivatePort {
			return out[i].PrivatePort < out[j].PrivatePort
		}
		return out[i].Type < out[j].Type
	})
	return out
}
