package networks

import (
	"fmt"
	"log"
	"net/netip"
	"time"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/network"
	"github.com/berth-project/berth/internal/network/bridge"
	"github.com/berth-project/berth/internal/network/ipam"
)

// ensurePredefined makes the bridge, host and none networks on first
// start.
func (s *Service) ensurePredefined() error {
	have := map[string]bool{}
	for _, n := range s.store.List() {
		have[n.Name] = true
	}
	for _, p := range []struct{ name, driver string }{
		{network.NameBridge, network.DriverBridge},
		{network.NameHost, network.DriverHost},
		{network.NameNone, network.DriverNull},
	} {
		if have[p.name] {
			continue
		}
		n := &network.Network{ID: newID(), Name: p.name, Driver: p.driver, Created: time.Now().UTC(), Labels: map[string]string{}, Options: map[string]string{}}
		if p.driver == network.DriverBridge {
			n.Bridge = s.defaultBridgeName()
			n.MTU = s.cfg.MTU
		}
		if err := s.store.Put(n); err != nil {
			return err
		}
	}
	return nil
}

// takenSubnets are the host's routes (except through bridge own, which
// is the network's own) and the subnets of the other networks.
func (s *Service) takenSubnets(own string, skipID string) ([]netip.Prefix, error) {
	routes, err := bridge.Routes()
	if err != nil {
		return nil, err
	}
	var out []netip.Prefix
	for _, r := range routes {
		if own != "" && r.Dev == own {
			continue
		}
		out = append(out, r.Dst)
	}
	for _, n := range s.store.List() {
		if n.ID != skipID && n.Subnet.IsValid() {
			out = append(out, n.Subnet)
		}
	}
	return out, nil
}

// setupBridge gives a bridge network its subnet (choosing it, or choosing
// it again when mayRechoose and a route of the host took it meanwhile),
// its bridge device and its address pool.
func (s *Service) setupBridge(n *network.Network, mayRechoose bool) error {
	changed := false
	if n.Name == network.NameBridge && s.cfg.DefaultBridge.IsValid() {
		subnet, gw := s.cfg.DefaultBridge.Masked(), s.cfg.DefaultBridge.Addr()
		if gw == subnet.Addr() {
			gw = ipam.FirstHost(subnet)
		}
		if n.Subnet != subnet || n.Gateway != gw || !n.UserSubnet {
			n.Subnet, n.Gateway, n.UserSubnet, changed = subnet, gw, true, true
		}
	} else if n.Name == network.NameBridge && n.UserSubnet {
		// --bip was dropped: choose again.
		n.Subnet, n.UserSubnet, changed = netip.Prefix{}, false, true
	}
	taken, err := s.takenSubnets(n.Bridge, n.ID)
	if err != nil {
		return err
	}
	if !n.Subnet.IsValid() || (!n.UserSubnet && mayRechoose && ipam.Clashes(n.Subnet, taken)) {
		old := n.Subnet
		sub, err := ipam.Choose(s.cfg.Pools, taken)
		if err != nil {
			return fmt.Errorf("network %s: %w", n.Name, err)
		}
		n.Subnet, n.Gateway, changed = sub, ipam.FirstHost(sub), true
		if old.IsValid() {
			log.Printf("network %s: subnet %s is taken by a route of the host now; using %s", n.Name, old, sub)
		}
	}
	if changed {
		if err := s.store.Put(n); err != nil {
			return err
		}
	}
	pool, err := ipam.NewPool(n.Subnet, n.IPRange, n.Gateway)
	if err != nil {
		return fmt.Errorf("network %s: %w", n.Name, err)
	}
	idx, err := bridge.Ensure(n.Bridge, netip.PrefixFrom(n.Gateway, n.Subnet.Bits()), n.MTU)
	if err != nil {
		return errdefs.Unavailable(fmt.Errorf("network %s: %w", n.Name, err))
	}
	if err := bridge.EnableForwarding(); err != nil {
		return err
	}
	s.mu.Lock()
	if old := s.pools[n.ID]; old != nil {
		// Keep the leases of a pool set up before (a re-check).
		pool = old
	}
	s.pools[n.ID] = pool
	s.bridges[n.ID] = idx
	s.mu.Unlock()
	return nil
}
