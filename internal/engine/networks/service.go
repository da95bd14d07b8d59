// Package networks holds the network use cases of the engine: network
// create, inspect, list, remove, prune; and for containers the setup of
// their network namespace, addresses, published ports and /etc files at
// start, their teardown at exit, and connect/disconnect while they run.
// At daemon start it reconciles the kernel (bridges, veths, namespaces,
// nftables rules) with the records.
package networks

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log"
	"net"
	"net/netip"
	"path/filepath"
	"sort"
	"sync"
	"time"

	eventtypes "github.com/moby/moby/api/types/events"

	crec "github.com/berth-project/berth/internal/container"
	"github.com/berth-project/berth/internal/engine/events"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/network"
	"github.com/berth-project/berth/internal/network/bridge"
	"github.com/berth-project/berth/internal/network/firewall"
	"github.com/berth-project/berth/internal/network/ipam"
	"github.com/berth-project/berth/internal/network/portmap"
)

// Config configures the service. Every name and address a daemon uses on
// the host is configurable, so that daemons (tests) can run side by side.
type Config struct {
	// ExecRoot holds the namespace files (netns/) and the network state
	// the resolver reads (network/).
	ExecRoot string
	// BridgePrefix starts the name of every link the daemon makes: the
	// default bridge is PREFIX0, user networks' bridges PREFIX-ID and
	// veths PREFIXvHEX. At most 8 characters; default "berth".
	BridgePrefix string
	// Table is the nftables table (family inet); default "berth".
	Table string
	// DefaultBridge is the default bridge's gateway and prefix (--bip);
	// invalid: chosen from Pools.
	DefaultBridge netip.Prefix
	// Pools are where chosen subnets come from; nil: Docker's defaults.
	Pools []ipam.AddressPool
	// DNSPort is the port the resolver listens on, on all addresses; 0
	// lets the kernel choose a free one.
	DNSPort uint16
	// ResolverArgv starts the resolver; the state file path is appended.
	ResolverArgv []string
	// MTU of the bridges and veths (0: the kernel's default).
	MTU int
	// Events receives network events (nil: none).
	Events *events.Bus
}

// Containers is what networks need to know about containers.
type Containers interface {
	Get(ref string) (*crec.Container, error)
	List() []*crec.Container
}

// Service implements the network operations.
type Service struct {
	cfg        Config
	store      *network.Store
	containers Containers
	fw         *firewall.Firewall

	// createMu serializes network create and remove.
	createMu sync.Mutex
	mu       sync.Mutex
	pools    map[string]*ipam.Pool           // network ID → addresses
	bridges  map[string]int                  // network ID → bridge ifindex
	eps      map[string][]*network.Endpoint  // container ID → endpoints
	ports    map[string]*portmap.Reservation // container ID → held host ports
	setups   map[string]*pendingSetup        // container ID → setup in progress
	pending  sync.WaitGroup                  // background veth deletions
	dns      resolver

	claims []net.Listener // see claimNames

	ctx    context.Context
	cancel context.CancelFunc
	loops  sync.WaitGroup
}

// New returns the service; Start sets the host up.
func New(cfg Config, store *network.Store, containers Containers) (*Service, error) {
	if cfg.BridgePrefix == "" {
		cfg.BridgePrefix = "berth"
	}
	if len(cfg.BridgePrefix) > 8 {
		return nil, fmt.Errorf("bridge prefix %q: at most 8 characters", cfg.BridgePrefix)
	}
	if cfg.Table == "" {
		cfg.Table = "berth"
	}
	if len(cfg.Pools) == 0 {
		cfg.Pools = ipam.DefaultPools()
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Service{
		cfg: cfg, store: store, containers: containers,
		fw:      firewall.New(cfg.Table),
		pools:   map[string]*ipam.Pool{},
		bridges: map[string]int{},
		eps:     map[string][]*network.Endpoint{},
		ports:   map[string]*portmap.Reservation{},
		setups:  map[string]*pendingSetup{},
		ctx:     ctx, cancel: cancel,
	}
	s.dns = resolver{dir: s.stateDir(), argv: cfg.ResolverArgv, port: cfg.DNSPort}
	return s, nil
}

// Close stops the background work; networking of running containers
// stays as it is (and the resolver keeps answering).
func (s *Service) Close() {
	s.cancel()
	s.loops.Wait()
	s.pending.Wait()
	s.mu.Lock()
	for _, r := range s.ports {
		r.Close()
	}
	s.ports = map[string]*portmap.Reservation{}
	s.mu.Unlock()
	for _, l := range s.claims {
		l.Close()
	}
}

func (s *Service) stateDir() string           { return filepath.Join(s.cfg.ExecRoot, "network") }
func (s *Service) statePath() string          { return filepath.Join(s.stateDir(), "state.json") }
func (s *Service) netnsDir() string           { return filepath.Join(s.cfg.ExecRoot, "netns") }
func (s *Service) netnsPath(id string) string { return filepath.Join(s.netnsDir(), id) }

// defaultBridgeName is the default network's bridge.
func (s *Service) defaultBridgeName() string { return s.cfg.BridgePrefix + "0" }

// bridgeName is the bridge of a user network with this ID.
func (s *Service) bridgeName(id string) string {
	return s.cfg.BridgePrefix + "-" + id[:14-len(s.cfg.BridgePrefix)]
}

// vethName is a new host-side veth name.
func (s *Service) vethName() string {
	return s.cfg.BridgePrefix + "v" + randHex(7)[:14-len(s.cfg.BridgePrefix)]
}

func randHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func newID() string { return randHex(32) }

func (s *Service) emit(action eventtypes.Action, n *network.Network, extra map[string]string) {
	if s.cfg.Events == nil {
		return
	}
	attrs := map[string]string{"name": n.Name, "type": n.Driver}
	for k, v := range extra {
		attrs[k] = v
	}
	s.cfg.Events.Publish(eventtypes.NetworkEventType, action, n.ID, attrs)
}

// Start makes the predefined networks, sets every bridge up, takes back
// the leases and ports of running containers and drops those of gone
// ones, removes stray veths and namespaces, rebuilds berth's nftables
// table in one transaction and starts the resolver. Then it keeps
// checking, every two seconds, that other tools' forward chains still
// accept berth's traffic and that the resolver runs.
func (s *Service) Start(ctx context.Context) error {
	if err := s.claimNames(); err != nil {
		return err
	}
	if err := bridge.PrivateDir(s.netnsDir()); err != nil {
		return err
	}
	if err := s.ensurePredefined(); err != nil {
		return err
	}
	st, err := network.ReadState(s.statePath())
	if err != nil {
		log.Printf("network state: %v (starting afresh)", err)
		st = &network.State{}
	}
	running := map[string]*crec.Container{}
	for _, c := range s.containers.List() {
		if c.State.Running() && c.SandboxKey != "" {
			running[c.ID] = c
		}
	}
	kept := map[string][]*network.Endpoint{}
	for i := range st.Endpoints {
		ep := st.Endpoints[i]
		if running[ep.ContainerID] != nil {
			kept[ep.ContainerID] = append(kept[ep.ContainerID], &ep)
		}
	}
	for _, n := range s.store.List() {
		if n.Driver != network.DriverBridge {
			continue
		}
		inUse := false
		for _, eps := range kept {
			for _, ep := range eps {
				inUse = inUse || ep.NetworkID == n.ID
			}
		}
		if err := s.setupBridge(n, !inUse); err != nil {
			return err
		}
	}
	s.mu.Lock()
	for cid, eps := range kept {
		for _, ep := range eps {
			if p := s.pools[ep.NetworkID]; p != nil {
				if err := p.Reserve(ep.IP); err != nil {
					log.Printf("container %s: address %s: %v", cid[:12], ep.IP, err)
				}
			}
		}
		s.eps[cid] = eps
		if ms := portmap.FromPortMap(running[cid].Ports); len(ms) > 0 {
			r, err := portmap.Hold(ms)
			if err != nil {
				log.Printf("container %s: hold published ports: %v", cid[:12], err)
			} else {
				s.ports[cid] = r
			}
		}
	}
	s.mu.Unlock()
	s.removeStrays(running, st)
	if s.hasDNSNetworks() {
		if err := s.dns.ensure(); err != nil {
			log.Printf("dns resolver: %v", err)
		}
	}
	if err := s.resetFirewall(running); err != nil {
		return err
	}
	s.mu.Lock()
	err = s.writeStateLocked()
	s.mu.Unlock()
	if err != nil {
		return err
	}
	s.guard()
	s.loops.Add(1)
	go s.guardLoop()
	return nil
}

// claimNames makes sure no other daemon on the host uses this daemon's
// nftables table or link prefix (it would delete this one's rules and
// links as strays). The claims are abstract unix sockets: the kernel
// releases them when the daemon exits, however it exits.
func (s *Service) claimNames() error {
	for _, c := range []struct{ name, what, flag string }{
		{"@berth-nft-table/" + s.cfg.Table, "nftables table " + s.cfg.Table, "--nft-table"},
		{"@berth-link-prefix/" + s.cfg.BridgePrefix, "link prefix " + s.cfg.BridgePrefix, "--bridge-prefix"},
	} {
		l, err := net.Listen("unix", c.name)
		if err != nil {
			return fmt.Errorf("another berth daemon uses the %s (choose another with %s): %w", c.what, c.flag, err)
		}
		s.claims = append(s.claims, l)
	}
	return nil
}

// resetFirewall rebuilds berth's table from the records.
func (s *Service) resetFirewall(running map[string]*crec.Container) error {
	var nets []firewall.Network
	for _, n := range s.store.List() {
		if n.Driver == network.DriverBridge {
			nets = append(nets, s.fwNetwork(n))
		}
	}
	ports := map[string][]firewall.Port{}
	s.mu.Lock()
	for cid, eps := range s.eps {
		if c := running[cid]; c != nil && len(eps) > 0 {
			ports[cid] = fwPorts(portmap.FromPortMap(c.Ports), eps[0].IP)
		}
	}
	s.mu.Unlock()
	return s.fw.Reset(nets, ports)
}

func (s *Service) fwNetwork(n *network.Network) firewall.Network {
	fn := firewall.Network{ID: n.ID, Bridge: n.Bridge, Subnet: n.Subnet, Gateway: n.Gateway, Internal: n.Internal}
	if n.UserDefined() {
		fn.DNSPort = s.dns.currentPort()
	}
	return fn
}

func fwPorts(ms []portmap.Mapping, ip netip.Addr) []firewall.Port {
	var out []firewall.Port
	for _, m := range ms {
		out = append(out, firewall.Port{HostIP: m.HostIP, HostPort: m.HostPort, Proto: m.Proto, ContainerIP: ip, ContainerPort: m.ContainerPort})
	}
	return out
}

// removeStrays deletes what an earlier daemon left: veths and bridges
// with berth's prefix that belong to nothing, namespace files of
// containers that do not run.
func (s *Service) removeStrays(running map[string]*crec.Container, st *network.State) {
	s.mu.Lock()
	keep := map[string]bool{}
	for _, eps := range s.eps {
		for _, ep := range eps {
			keep[ep.HostIf] = true
		}
	}
	s.mu.Unlock()
	for _, n := range s.store.List() {
		keep[n.Bridge] = true
	}
	links, err := bridge.Links(s.cfg.BridgePrefix)
	if err != nil {
		log.Printf("stray links: %v", err)
	}
	for _, l := range links {
		if !keep[l] && s.ownsLink(l) {
			if err := bridge.Delete(l); err != nil {
				log.Printf("remove stray link %s: %v", l, err)
			}
		}
	}
	entries, _ := filepath.Glob(filepath.Join(s.netnsDir(), "*"))
	for _, p := range entries {
		if running[filepath.Base(p)] == nil {
			if err := bridge.DeleteSandbox(p); err != nil {
				log.Printf("remove stray namespace %s: %v", p, err)
			}
		}
	}
}

// ownsLink reports whether a link name has the shape of this daemon's
// links (so that a daemon with prefix "ab" spares "abc0" of another).
func (s *Service) ownsLink(name string) bool {
	rest := name[len(s.cfg.BridgePrefix):]
	return rest == "0" || len(rest) == 15-len(s.cfg.BridgePrefix) && (rest[0] == '-' || rest[0] == 'v')
}

// guardLoop re-installs berth's accept rules in other tools' forward
// chains (dockerd recreates its chain when it restarts) and restarts the
// resolver if it died.
func (s *Service) guardLoop() {
	defer s.loops.Done()
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			s.guard()
		}
	}
}

func (s *Service) guard() {
	var bridges []string
	for _, n := range s.store.List() {
		if n.Driver == network.DriverBridge {
			bridges = append(bridges, n.Bridge)
		}
	}
	sort.Strings(bridges)
	if n, err := s.fw.EnsureForwardAccept(bridges); err != nil {
		log.Printf("firewall: %v", err)
	} else if n > 0 {
		log.Printf("firewall: put back %d accept rules for berth's bridges in other tables' forward chains", n)
	}
	if s.hasDNSNetworks() && !s.dns.alive() {
		old := s.dns.currentPort()
		if err := s.dns.ensure(); err != nil {
			log.Printf("dns resolver: %v", err)
			return
		}
		if s.dns.currentPort() != old {
			s.refreshDNSRules()
		}
	}
}

func (s *Service) hasDNSNetworks() bool {
	for _, n := range s.store.List() {
		if n.UserDefined() {
			return true
		}
	}
	return false
}

// refreshDNSRules rewrites the rules of networks with DNS (the
// resolver's port changed).
func (s *Service) refreshDNSRules() {
	for _, n := range s.store.List() {
		if n.UserDefined() {
			if err := s.fw.AddNetwork(s.fwNetwork(n)); err != nil {
				log.Printf("firewall: %v", err)
			}
		}
	}
}

// writeStateLocked writes the state file the resolver and a restarted
// daemon read. s.mu is held.
func (s *Service) writeStateLocked() error {
	st := &network.State{}
	for _, n := range s.store.List() {
		if n.Driver != network.DriverBridge {
			continue
		}
		st.Networks = append(st.Networks, network.StateNetwork{
			ID: n.ID, Name: n.Name, Bridge: n.Bridge, Subnet: n.Subnet, Gateway: n.Gateway,
			Internal: n.Internal, DNS: n.UserDefined(),
		})
	}
	ids := make([]string, 0, len(s.eps))
	for id := range s.eps {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		for _, ep := range s.eps[id] {
			st.Endpoints = append(st.Endpoints, *ep)
		}
	}
	if err := network.WriteState(s.statePath(), st); err != nil {
		return fmt.Errorf("write network state: %w", err)
	}
	return nil
}

// lookup resolves a network reference.
func (s *Service) lookup(ref string) (*network.Network, error) {
	n, err := s.store.Get(ref)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return nil, errdefs.NotFoundf("network %s not found", ref)
		}
		return nil, err
	}
	return n, nil
}
