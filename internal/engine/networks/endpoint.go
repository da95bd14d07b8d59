package networks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
	eventtypes "github.com/moby/moby/api/types/events"
	apinet "github.com/moby/moby/api/types/network"

	crec "github.com/berth-project/berth/internal/container"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/network"
	"github.com/berth-project/berth/internal/network/bridge"
	"github.com/berth-project/berth/internal/network/firewall"
	"github.com/berth-project/berth/internal/network/ipam"
	"github.com/berth-project/berth/internal/network/portmap"
	"github.com/berth-project/berth/internal/network/resolvconf"
)

// Validate checks the networking of a create request and returns the
// container's endpoint configs by network name, plus warnings. It sets
// the network mode's default ("bridge").
func (s *Service) Validate(cfg *container.Config, hc *container.HostConfig, nc *apinet.NetworkingConfig) (map[string]*apinet.EndpointSettings, []string, error) {
	mode := hc.NetworkMode
	if mode == "" || mode.IsDefault() {
		mode = network.NameBridge
		hc.NetworkMode = mode
	}
	var asked map[string]*apinet.EndpointSettings
	if nc != nil {
		asked = nc.EndpointsConfig
	}
	if err := checkExtraHosts(hc.ExtraHosts); err != nil {
		return nil, nil, err
	}
	if _, err := portmap.Requests(hc.PortBindings, cfg.ExposedPorts, hc.PublishAllPorts); err != nil {
		return nil, nil, err
	}
	var warnings []string
	single := func(name string) (map[string]*apinet.EndpointSettings, []string, error) {
		for k := range asked {
			if k == string(mode) {
				continue
			}
			if n, err := s.lookup(k); err != nil || n.Name != name {
				return nil, nil, errdefs.InvalidArgumentf("conflicting options: cannot attach both user-defined and non-user-defined network-modes")
			}
		}
		n, err := s.lookup(name)
		if err != nil {
			return nil, nil, err
		}
		return map[string]*apinet.EndpointSettings{name: {NetworkID: n.ID}}, warnings, nil
	}
	switch {
	case mode.IsHost():
		if len(hc.PortBindings) > 0 || hc.PublishAllPorts {
			warnings = append(warnings, "Published ports are discarded when using host network mode")
			hc.PortBindings, hc.PublishAllPorts = nil, false
		}
		return single(network.NameHost)
	case mode.IsNone():
		return single(network.NameNone)
	case mode.IsContainer():
		switch {
		case len(hc.PortBindings) > 0 || hc.PublishAllPorts:
			return nil, nil, errdefs.InvalidArgumentf("conflicting options: port publishing and the container type network mode")
		case cfg.Hostname != "":
			return nil, nil, errdefs.InvalidArgumentf("conflicting options: hostname and the network mode")
		case len(hc.DNS) > 0 || len(hc.DNSSearch) > 0 || len(hc.DNSOptions) > 0:
			return nil, nil, errdefs.InvalidArgumentf("conflicting options: dns and the network mode")
		case len(hc.ExtraHosts) > 0:
			return nil, nil, errdefs.InvalidArgumentf("conflicting options: custom host-to-IP mapping and the network mode")
		case len(asked) > 0:
			return nil, nil, errdefs.InvalidArgumentf("conflicting options: cannot attach both user-defined and non-user-defined network-modes")
		}
		// The container to join need not exist yet (Docker checks at start).
		return nil, nil, nil
	}
	// A network that does not exist yet is no error until the container
	// starts (as with Docker: it may be made in between).
	primary, err := s.lookup(mode.NetworkName())
	if err != nil && !errdefs.IsNotFound(err) {
		return nil, nil, err
	}
	if primary != nil && (primary.Driver == network.DriverHost || primary.Driver == network.DriverNull) {
		hc.NetworkMode = container.NetworkMode(primary.Name)
		return s.Validate(cfg, hc, nc)
	}
	primaryName := mode.NetworkName()
	if primary != nil {
		primaryName = primary.Name
		hc.NetworkMode = container.NetworkMode(primary.Name)
	}
	out := map[string]*apinet.EndpointSettings{}
	add := func(ref string, n *network.Network, es *apinet.EndpointSettings) error {
		es = es.Copy()
		if es == nil {
			es = &apinet.EndpointSettings{}
		}
		if n == nil {
			out[ref] = es
			return nil
		}
		if n.Driver != network.DriverBridge {
			return errdefs.InvalidArgumentf("conflicting options: cannot attach both user-defined and non-user-defined network-modes")
		}
		if err := checkEndpoint(n, es); err != nil {
			return err
		}
		es.NetworkID = n.ID
		out[n.Name] = es
		return nil
	}
	var primaryES *apinet.EndpointSettings
	for k, es := range asked {
		if container.NetworkMode(k).IsDefault() {
			k = network.NameBridge
		}
		n, err := s.lookup(k)
		if err != nil && !errdefs.IsNotFound(err) {
			return nil, nil, err
		}
		if n != nil && primary != nil && n.ID == primary.ID || n == nil && k == primaryName {
			primaryES = es
			continue
		}
		if err := add(k, n, es); err != nil {
			return nil, nil, err
		}
	}
	if err := add(primaryName, primary, primaryES); err != nil {
		return nil, nil, err
	}
	return out, warnings, nil
}

// checkEndpoint applies Docker's rules to an endpoint config.
func checkEndpoint(n *network.Network, es *apinet.EndpointSettings) error {
	if c := es.IPAMConfig; c != nil {
		if c.IPv6Address.IsValid() {
			return errdefs.NotImplemented(fmt.Errorf("IPv6 addresses are not supported by berth"))
		}
		if a := c.IPv4Address; a.IsValid() {
			if !n.UserDefined() {
				return errdefs.InvalidArgumentf("user specified IP address is supported on user defined networks only")
			}
			if !n.UserSubnet {
				return errdefs.InvalidArgumentf("user specified IP address is supported only when connecting to networks with user configured subnets")
			}
			if !a.Is4() || !n.Subnet.Contains(a) || a == n.Subnet.Addr() || a == n.Gateway {
				return errdefs.InvalidArgumentf("invalid address %s: it does not belong to any of this network's subnets", a)
			}
		}
	}
	if len(es.Aliases) > 0 && !n.UserDefined() {
		return errdefs.InvalidArgumentf("network-scoped alias is supported only for containers in user defined networks")
	}
	return nil
}

func checkExtraHosts(hosts []string) error {
	for _, h := range hosts {
		name, ip, ok := strings.Cut(h, ":")
		if !ok {
			name, ip, ok = strings.Cut(h, "=")
		}
		if !ok || name == "" {
			return errdefs.InvalidArgumentf("invalid argument %q for \"--add-host\" flag: invalid IP address in add-host", h)
		}
		if ip == "host-gateway" {
			continue
		}
		if _, err := netip.ParseAddr(strings.Trim(ip, "[]")); err != nil {
			return errdefs.InvalidArgumentf("invalid argument %q for \"--add-host\" flag: invalid IP address %q", h, ip)
		}
	}
	return nil
}

// order lists the container's bridge networks: the network mode's first,
// then by name.
func order(c *crec.Container) []string {
	primary := c.HostConfig.NetworkMode.NetworkName()
	var rest []string
	for name := range c.Networks {
		if name != primary {
			rest = append(rest, name)
		}
	}
	sort.Strings(rest)
	if _, ok := c.Networks[primary]; ok {
		return append([]string{primary}, rest...)
	}
	return rest
}

// network finds the network an endpoint config is for: by ID, else by
// name (a network removed and made again under the same name).
func (s *Service) networkFor(name string, es *apinet.EndpointSettings) (*network.Network, error) {
	if es != nil && es.NetworkID != "" {
		if n, err := s.store.Get(es.NetworkID); err == nil && n.ID == es.NetworkID {
			return n, nil
		}
	}
	return s.lookup(name)
}

func dnsNames(c *crec.Container, es *apinet.EndpointSettings) []string {
	names := []string{c.Name}
	for _, a := range es.Aliases {
		if a != c.Name {
			names = append(names, a)
		}
	}
	return append(names, c.ID[:12])
}

func upstreams(hc *container.HostConfig) []string {
	var out []string
	for _, a := range hc.DNS {
		out = append(out, a.String())
	}
	return out
}

// Setup prepares the network of c before its process starts: the /etc
// files; for bridge networks also addresses, a network namespace with a
// veth per network, published ports and their rules. It returns the
// namespace the container must join ("" for a new empty one, or the
// host's for host mode, which the spec handles). c's endpoints, ports
// and sandbox key are filled in.
func (s *Service) Setup(ctx context.Context, c *crec.Container) (string, error) {
	mode := c.HostConfig.NetworkMode
	switch {
	case mode.IsHost():
		hn, _ := os.Hostname()
		hosts, err := os.ReadFile("/etc/hosts")
		if err != nil {
			hosts = []byte(hostsHeader)
		}
		extra, err := hostsFor(c, nil, netip.Addr{})
		if err != nil {
			return "", errdefs.InvalidArgument(err)
		}
		return "", etc{hostname: hn, hosts: string(hosts) + strings.TrimPrefix(extra, hostsHeader), resolv: resolvconf.Host().Bytes()}.write(c.Dir)
	case mode.IsNone():
		hosts, err := hostsFor(c, nil, netip.Addr{})
		if err != nil {
			return "", errdefs.InvalidArgument(err)
		}
		return "", etc{hostname: hostname(c), hosts: hosts, resolv: resolvFor(c, netip.Addr{}, resolvconf.Host(), false)}.write(c.Dir)
	case mode.IsContainer():
		t, err := s.containers.Get(mode.ConnectedContainer())
		if err != nil {
			return "", err
		}
		if t.ID == c.ID {
			return "", errdefs.InvalidArgumentf("cannot join own network namespace")
		}
		if !t.State.Running() {
			return "", errdefs.Conflictf("cannot join network namespace of a non running container: %s", t.ID)
		}
		if err := copyEtc(t.Dir, c.Dir); err != nil {
			return "", err
		}
		c.Config.Hostname = hostname(t)
		if t.SandboxKey != "" {
			return t.SandboxKey, nil
		}
		return "/proc/" + strconv.Itoa(t.State.Pid) + "/ns/net", nil
	}
	s.mu.Lock()
	stale := len(s.eps[c.ID]) > 0
	s.mu.Unlock()
	if stale {
		s.Teardown(ctx, c)
	}
	return s.setupBridges(c, resolvconf.Host())
}

// allocate takes the address es asks for from pool, or the next free one.
func allocate(pool *ipam.Pool, es *apinet.EndpointSettings) (netip.Addr, error) {
	if es.IPAMConfig != nil && es.IPAMConfig.IPv4Address.IsValid() {
		ip := es.IPAMConfig.IPv4Address
		return ip, pool.Reserve(ip)
	}
	return pool.Allocate()
}

// newEndpoint describes c's endpoint on n at ip, named ifname in the
// container, with a new veth on the bridge of index idx.
func (s *Service) newEndpoint(c *crec.Container, n *network.Network, es *apinet.EndpointSettings, ip netip.Addr, ifname string, idx int) (*network.Endpoint, bridge.Endpoint) {
	mac := net.HardwareAddr(es.MacAddress)
	if len(mac) == 0 {
		mac = bridge.MAC(ip)
	}
	ep := &network.Endpoint{
		ID: newID(), NetworkID: n.ID, ContainerID: c.ID, Names: dnsNames(c, es), IP: ip, MAC: mac.String(),
		HostIf: s.vethName(), IfName: ifname, Upstreams: upstreams(c.HostConfig),
	}
	return ep, bridge.Endpoint{HostName: ep.HostIf, Name: ifname, BridgeIndex: idx, Addr: netip.PrefixFrom(ip, n.Subnet.Bits()), MAC: mac, MTU: n.MTU}
}

type plan struct {
	n   *network.Network
	es  *apinet.EndpointSettings
	ep  *network.Endpoint
	bep bridge.Endpoint
}

func (s *Service) setupBridges(c *crec.Container, host resolvconf.File) (path string, err error) {
	names := order(c)
	if len(names) == 0 {
		return "", errdefs.InvalidArgumentf("container %s has no network to join", c.Name)
	}
	var plans []*plan
	s.mu.Lock()
	releaseLocked := func() {
		for _, p := range plans {
			if pool := s.pools[p.n.ID]; pool != nil {
				pool.Release(p.ep.IP)
			}
		}
	}
	gwSet := false
	for i, name := range names {
		es := c.Networks[name]
		n, err := s.networkFor(name, es)
		if err != nil {
			releaseLocked()
			s.mu.Unlock()
			return "", err
		}
		pool, idx := s.pools[n.ID], s.bridges[n.ID]
		if pool == nil {
			releaseLocked()
			s.mu.Unlock()
			return "", errdefs.Unavailable(fmt.Errorf("network %s is not set up", n.Name))
		}
		ip, err := allocate(pool, es)
		if err != nil {
			releaseLocked()
			s.mu.Unlock()
			return "", err
		}
		ep, bep := s.newEndpoint(c, n, es, ip, "eth"+strconv.Itoa(i), idx)
		if !gwSet && !n.Internal {
			gwSet, ep.Gateway, bep.Gateway = true, true, n.Gateway
		}
		plans = append(plans, &plan{n: n, es: es, ep: ep, bep: bep})
	}
	s.mu.Unlock()
	var res *portmap.Reservation
	defer func() {
		if err != nil {
			res.Close()
			s.mu.Lock()
			releaseLocked()
			s.mu.Unlock()
		}
	}()
	var gw *plan
	for _, p := range plans {
		if p.ep.Gateway {
			gw = p
		}
	}
	if gw != nil {
		reqs, err := portmap.Requests(c.HostConfig.PortBindings, c.Config.ExposedPorts, c.HostConfig.PublishAllPorts)
		if err != nil {
			return "", err
		}
		if res, err = portmap.Reserve(reqs); err != nil {
			return "", fmt.Errorf("driver failed programming external connectivity on endpoint %s (%s): %w", c.Name, gw.ep.ID, err)
		}
	}
	var own []netip.Addr
	var bps []bridge.Endpoint
	var eps []*network.Endpoint
	var resolver netip.Addr
	for _, p := range plans {
		own = append(own, p.ep.IP)
		bps = append(bps, p.bep)
		eps = append(eps, p.ep)
		if !resolver.IsValid() && p.n.UserDefined() {
			resolver = p.n.Gateway
		}
	}
	hostGW := plans[0].n.Gateway
	if gw != nil {
		hostGW = gw.n.Gateway
	}
	hosts, err := hostsFor(c, own, hostGW)
	if err != nil {
		return "", errdefs.InvalidArgument(err)
	}
	if err := (etc{hostname: hostname(c), hosts: hosts, resolv: resolvFor(c, resolver, host, false)}).write(c.Dir); err != nil {
		return "", err
	}
	// The namespace must exist before the runtime joins it; its veths
	// and port rules are made in the background, while the shim starts
	// (Ready waits for them).
	path = s.netnsPath(c.ID)
	if err := bridge.NewNetns(path); err != nil {
		return "", fmt.Errorf("set up network namespace: %w", err)
	}
	p := &pendingSetup{done: make(chan struct{})}
	var fwp []firewall.Port
	if res != nil && len(res.Mappings) > 0 {
		fwp = fwPorts(res.Mappings, gw.ep.IP)
	}
	go func() {
		defer close(p.done)
		if p.err = bridge.AddEndpoints(path, bps); p.err != nil {
			p.err = fmt.Errorf("set up network namespace: %w", p.err)
			return
		}
		if len(fwp) > 0 {
			p.err = s.fw.AddPorts(c.ID, fwp)
		}
	}()
	s.mu.Lock()
	s.setups[c.ID] = p
	s.eps[c.ID] = eps
	if res != nil {
		s.ports[c.ID] = res
	}
	werr := s.writeStateLocked()
	s.mu.Unlock()
	if werr != nil {
		// The resolver misses the names; the container still works.
		fmt.Fprintf(os.Stderr, "container %s: %v\n", c.ID[:12], werr)
	}
	c.SandboxKey = path
	var ms []portmap.Mapping
	if res != nil {
		ms = res.Mappings
	}
	c.Ports = portmap.PortMap(ms, c.Config.ExposedPorts)
	for _, p := range plans {
		fillEndpoint(p.es, p.n, p.ep)
		s.emit(eventtypes.ActionConnect, p.n, map[string]string{"container": c.ID})
	}
	return path, nil
}

// pendingSetup is the background part of a container's Setup.
type pendingSetup struct {
	done chan struct{}
	err  error
}

// Ready waits for the background part of c's Setup; on error the caller
// tears the network down.
func (s *Service) Ready(ctx context.Context, c *crec.Container) error {
	s.mu.Lock()
	p := s.setups[c.ID]
	delete(s.setups, c.ID)
	s.mu.Unlock()
	if p == nil {
		return nil
	}
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		// Teardown waits for it.
		s.mu.Lock()
		s.setups[c.ID] = p
		s.mu.Unlock()
		return ctx.Err()
	}
}

func fillEndpoint(es *apinet.EndpointSettings, n *network.Network, ep *network.Endpoint) {
	es.NetworkID = n.ID
	es.EndpointID = ep.ID
	es.IPAddress = ep.IP
	es.IPPrefixLen = n.Subnet.Bits()
	es.Gateway = n.Gateway
	mac, _ := parseMAC(ep.MAC)
	es.MacAddress = mac
	es.DNSNames = append([]string(nil), ep.Names...)
}

func clearEndpoint(es *apinet.EndpointSettings) {
	if bridge.MAC(es.IPAddress).String() == net.HardwareAddr(es.MacAddress).String() {
		es.MacAddress = nil
	}
	es.EndpointID, es.IPAddress, es.IPPrefixLen, es.Gateway, es.DNSNames = "", netip.Addr{}, 0, netip.Addr{}, nil
}

func parseMAC(s string) (apinet.HardwareAddr, error) {
	m, err := net.ParseMAC(s)
	return apinet.HardwareAddr(m), err
}

// Teardown undoes Setup: the endpoints leave the state (and DNS) at once,
// the ports and their rules go, the namespace file is removed; the veths
// are deleted in the background, their addresses going back to the pools
// when they are gone. It reports whether c changed.
func (s *Service) Teardown(_ context.Context, c *crec.Container) bool {
	s.mu.Lock()
	if p := s.setups[c.ID]; p != nil {
		delete(s.setups, c.ID)
		s.mu.Unlock()
		<-p.done
		s.mu.Lock()
	}
	eps := s.eps[c.ID]
	delete(s.eps, c.ID)
	res := s.ports[c.ID]
	delete(s.ports, c.ID)
	if eps != nil {
		if err := s.writeStateLocked(); err != nil {
			fmt.Fprintf(os.Stderr, "container %s: %v\n", c.ID[:12], err)
		}
	}
	s.mu.Unlock()
	if res != nil {
		if len(res.Mappings) > 0 {
			if err := s.fw.RemovePorts(c.ID); err != nil {
				fmt.Fprintf(os.Stderr, "container %s: %v\n", c.ID[:12], err)
			}
		}
		res.Close()
	}
	own := s.netnsPath(c.ID)
	if _, err := os.Stat(own); err == nil {
		if err := bridge.DeleteSandbox(own); err != nil {
			fmt.Fprintf(os.Stderr, "container %s: %v\n", c.ID[:12], err)
		}
	}
	for _, ep := range eps {
		if n, err := s.store.Get(ep.NetworkID); err == nil {
			s.emit(eventtypes.ActionDisconnect, n, map[string]string{"container": c.ID})
		}
		s.pending.Add(1)
		go func() {
			defer s.pending.Done()
			if err := bridge.Delete(ep.HostIf); err != nil {
				fmt.Fprintf(os.Stderr, "container %s: %v\n", c.ID[:12], err)
			}
			s.mu.Lock()
			if p := s.pools[ep.NetworkID]; p != nil {
				p.Release(ep.IP)
			}
			s.mu.Unlock()
		}()
	}
	changed := c.SandboxKey != "" || len(c.Ports) > 0
	c.SandboxKey, c.Ports = "", nil
	for _, es := range c.Networks {
		if es.IPAddress.IsValid() || es.EndpointID != "" {
			clearEndpoint(es)
			changed = true
		}
	}
	return changed
}

// Connect attaches c to a network: recorded for its next start, and
// plugged in at once when it runs. The caller holds c's lock and saves c.
func (s *Service) Connect(ctx context.Context, c *crec.Container, ref string, es *apinet.EndpointSettings) error {
	n, err := s.lookup(ref)
	if err != nil {
		return err
	}
	mode := c.HostConfig.NetworkMode
	switch {
	case n.Driver == network.DriverHost || mode.IsHost() && n.Driver != network.DriverHost:
		if mode.IsHost() && n.Driver == network.DriverHost {
			return errdefs.Forbidden(fmt.Errorf("endpoint with name %s already exists in network %s", c.Name, n.Name))
		}
		return errdefs.Forbidden(fmt.Errorf("container cannot be disconnected from host network or connected to host network"))
	case mode.IsContainer():
		return errdefs.Forbidden(fmt.Errorf("container sharing network namespace with another container or host cannot be connected to any other network"))
	case n.Driver == network.DriverNull || mode.IsNone():
		return errdefs.Forbidden(fmt.Errorf("container cannot be connected to multiple networks with one of the networks in private (none) mode"))
	}
	if _, ok := c.Networks[n.Name]; ok {
		return errdefs.Forbidden(fmt.Errorf("endpoint with name %s already exists in network %s", c.Name, n.Name))
	}
	es = es.Copy()
	if es == nil {
		es = &apinet.EndpointSettings{}
	}
	if err := checkEndpoint(n, es); err != nil {
		return err
	}
	es.NetworkID = n.ID
	if c.Networks == nil {
		c.Networks = map[string]*apinet.EndpointSettings{}
	}
	if !c.State.Running() || c.SandboxKey == "" {
		c.Networks[n.Name] = es
		s.emit(eventtypes.ActionConnect, n, map[string]string{"container": c.ID})
		return nil
	}
	s.mu.Lock()
	pool, idx := s.pools[n.ID], s.bridges[n.ID]
	if pool == nil {
		s.mu.Unlock()
		return errdefs.Unavailable(fmt.Errorf("network %s is not set up", n.Name))
	}
	ip, err := allocate(pool, es)
	used := map[string]bool{}
	hasGW := false
	for _, ep := range s.eps[c.ID] {
		used[ep.IfName] = true
		hasGW = hasGW || ep.Gateway
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	ifname := ""
	for i := 0; ; i++ {
		if ifname = "eth" + strconv.Itoa(i); !used[ifname] {
			break
		}
	}
	ep, bep := s.newEndpoint(c, n, es, ip, ifname, idx)
	if !hasGW && !n.Internal {
		ep.Gateway, bep.Gateway = true, n.Gateway
	}
	if err := bridge.AddEndpoint(c.SandboxKey, bep); err != nil {
		s.mu.Lock()
		pool.Release(ip)
		s.mu.Unlock()
		return fmt.Errorf("connect %s to %s: %w", c.Name, n.Name, err)
	}
	s.mu.Lock()
	s.eps[c.ID] = append(s.eps[c.ID], ep)
	werr := s.writeStateLocked()
	s.mu.Unlock()
	fillEndpoint(es, n, ep)
	c.Networks[n.Name] = es
	if err := s.rewriteEtc(c); err != nil {
		werr = errors.Join(werr, err)
	}
	s.emit(eventtypes.ActionConnect, n, map[string]string{"container": c.ID})
	return werr
}

// rewriteEtc writes c's /etc/hosts and /etc/resolv.conf again for its
// current endpoints: joining its first user-defined network gives a
// running container the resolver of container names, as with Docker.
func (s *Service) rewriteEtc(c *crec.Container) error {
	s.mu.Lock()
	var own []netip.Addr
	var gw, resolver netip.Addr
	for _, ep := range s.eps[c.ID] {
		own = append(own, ep.IP)
		n, err := s.store.Get(ep.NetworkID)
		if err != nil {
			continue
		}
		if ep.Gateway || !gw.IsValid() {
			gw = n.Gateway
		}
		if !resolver.IsValid() && n.UserDefined() {
			resolver = n.Gateway
		}
	}
	s.mu.Unlock()
	hosts, err := hostsFor(c, own, gw)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(c.Dir, hostsFile), []byte(hosts), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(c.Dir, resolvFile), resolvFor(c, resolver, resolvconf.Host(), false), 0o644)
}

// Disconnect detaches c from a network; a running container loses the
// interface at once. The caller holds c's lock and saves c.
func (s *Service) Disconnect(ctx context.Context, c *crec.Container, ref string, force bool) error {
	n, err := s.lookup(ref)
	if err != nil {
		return err
	}
	if n.Driver == network.DriverHost {
		return errdefs.Forbidden(fmt.Errorf("container cannot be disconnected from host network or connected to host network"))
	}
	if _, ok := c.Networks[n.Name]; !ok || c.HostConfig.NetworkMode.IsContainer() {
		return errdefs.Forbidden(fmt.Errorf("container %s is not connected to network %s", c.Name, n.Name))
	}
	if c.State.Running() && c.SandboxKey != "" {
		s.mu.Lock()
		var ep *network.Endpoint
		var rest []*network.Endpoint
		for _, e := range s.eps[c.ID] {
			if e.NetworkID == n.ID {
				ep = e
			} else {
				rest = append(rest, e)
			}
		}
		s.mu.Unlock()
		if ep != nil {
			if err := bridge.RemoveEndpoint(c.SandboxKey, ep.IfName); err != nil && !force {
				return fmt.Errorf("disconnect %s from %s: %w", c.Name, n.Name, err)
			}
			bridge.Delete(ep.HostIf)
			s.mu.Lock()
			if p := s.pools[n.ID]; p != nil {
				p.Release(ep.IP)
			}
			s.eps[c.ID] = rest
			if len(rest) == 0 {
				delete(s.eps, c.ID)
			}
			var res *portmap.Reservation
			if ep.Gateway {
				res = s.ports[c.ID]
				delete(s.ports, c.ID)
			}
			werr := s.writeStateLocked()
			s.mu.Unlock()
			if res != nil {
				s.fw.RemovePorts(c.ID)
				res.Close()
				c.Ports = portmap.PortMap(nil, c.Config.ExposedPorts)
			}
			if werr != nil {
				return werr
			}
		}
	}
	delete(c.Networks, n.Name)
	if c.State.Running() && c.SandboxKey != "" {
		if err := s.rewriteEtc(c); err != nil {
			return err
		}
	}
	s.emit(eventtypes.ActionDisconnect, n, map[string]string{"container": c.ID})
	return nil
}

// Rename makes DNS answer for c's new name (c.Name) instead of old.
func (s *Service) Rename(c *crec.Container, old string) {
	rename := func(names []string) []string {
		out := append([]string(nil), names...)
		for i, n := range out {
			if n == old {
				out[i] = c.Name
			}
		}
		return out
	}
	for _, es := range c.Networks {
		es.DNSNames = rename(es.DNSNames)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	eps := s.eps[c.ID]
	if len(eps) == 0 {
		return
	}
	for _, ep := range eps {
		ep.Names = rename(ep.Names)
	}
	if err := s.writeStateLocked(); err != nil {
		fmt.Fprintf(os.Stderr, "container %s: %v\n", c.ID[:12], err)
	}
}
