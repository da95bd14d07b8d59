package networks

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	eventtypes "github.com/moby/moby/api/types/events"
	apinet "github.com/moby/moby/api/types/network"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/network"
	"github.com/berth-project/berth/internal/network/bridge"
	"github.com/berth-project/berth/internal/network/ipam"
)

var validName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`) }) // compiled on first use, not at every start

// Create makes a bridge network: its record, subnet, bridge device and
// rules.
func (s *Service) Create(ctx context.Context, req apinet.CreateRequest) (apinet.CreateResponse, error) {
	if req.Name == "" {
		return apinet.CreateResponse{}, errdefs.InvalidArgumentf("invalid name: network name cannot be empty")
	}
	if !validName().MatchString(req.Name) {
		return apinet.CreateResponse{}, errdefs.InvalidArgumentf("invalid network name %q: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", req.Name)
	}
	switch req.Driver {
	case "", network.DriverBridge:
	case network.DriverHost, network.DriverNull:
		return apinet.CreateResponse{}, errdefs.Forbidden(fmt.Errorf("only one instance of %q network is allowed", req.Driver))
	default:
		return apinet.CreateResponse{}, errdefs.NotFoundf("plugin %q not found", req.Driver)
	}
	if req.EnableIPv6 != nil && *req.EnableIPv6 {
		return apinet.CreateResponse{}, errdefs.NotImplemented(fmt.Errorf("IPv6 networks are not supported by berth"))
	}
	if req.EnableIPv4 != nil && !*req.EnableIPv4 {
		return apinet.CreateResponse{}, errdefs.NotImplemented(fmt.Errorf("networks without IPv4 are not supported by berth"))
	}
	if req.Scope != "" && req.Scope != "local" {
		return apinet.CreateResponse{}, errdefs.NotImplemented(fmt.Errorf("scope %q is not supported: berth networks are local", req.Scope))
	}
	if req.ConfigOnly || req.ConfigFrom != nil && req.ConfigFrom.Network != "" || req.Ingress {
		return apinet.CreateResponse{}, errdefs.NotImplemented(fmt.Errorf("config-only and ingress networks are not supported by berth"))
	}
	if req.IPAM != nil && req.IPAM.Driver != "" && req.IPAM.Driver != "default" {
		return apinet.CreateResponse{}, errdefs.NotFoundf("plugin %q not found", req.IPAM.Driver)
	}
	// One network is made at a time: names, subnets and bridges are
	// checked against the others.
	s.createMu.Lock()
	defer s.createMu.Unlock()
	if _, err := s.store.Get(req.Name); err == nil {
		for _, n := range s.store.List() {
			if n.Name == req.Name {
				return apinet.CreateResponse{}, errdefs.Conflictf("network with name %s already exists", req.Name)
			}
		}
	}
	n := &network.Network{
		ID: newID(), Name: req.Name, Driver: network.DriverBridge, Created: time.Now().UTC(),
		Internal: req.Internal, Labels: nonNilMap(req.Labels), Options: nonNilMap(req.Options),
	}
	n.Bridge = s.bridgeName(n.ID)
	n.MTU = s.cfg.MTU
	for k, v := range n.Options {
		switch k {
		case network.OptionBridgeName:
			if err := s.checkBridgeName(v); err != nil {
				return apinet.CreateResponse{}, err
			}
			n.Bridge = v
		case network.OptionMTU:
			mtu, err := strconv.Atoi(v)
			if err != nil || mtu < 68 || mtu > 65535 {
				return apinet.CreateResponse{}, errdefs.InvalidArgumentf("invalid MTU %q: must be between 68 and 65535", v)
			}
			n.MTU = mtu
		}
	}
	if err := s.configureIPAM(n, req.IPAM); err != nil {
		return apinet.CreateResponse{}, err
	}
	if err := s.store.Put(n); err != nil {
		return apinet.CreateResponse{}, err
	}
	fail := func(err error) (apinet.CreateResponse, error) {
		s.fw.RemoveNetwork(n.ID)
		s.fw.RemoveForwardAccept(n.Bridge)
		bridge.Delete(n.Bridge)
		s.mu.Lock()
		delete(s.pools, n.ID)
		delete(s.bridges, n.ID)
		s.mu.Unlock()
		s.store.Delete(n.ID)
		return apinet.CreateResponse{}, err
	}
	if err := s.setupBridge(n, false); err != nil {
		return fail(err)
	}
	if err := s.dns.ensure(); err != nil {
		return fail(fmt.Errorf("start the resolver: %w", err))
	}
	if err := s.fw.AddNetwork(s.fwNetwork(n)); err != nil {
		return fail(err)
	}
	if _, err := s.fw.EnsureForwardAccept([]string{n.Bridge}); err != nil {
		return fail(err)
	}
	s.mu.Lock()
	err := s.writeStateLocked()
	s.mu.Unlock()
	if err != nil {
		return fail(err)
	}
	s.emit(eventtypes.ActionCreate, n, nil)
	return apinet.CreateResponse{ID: n.ID}, nil
}

func (s *Service) checkBridgeName(name string) error {
	if name == "" || len(name) > 15 || strings.ContainsAny(name, "/ \t\n:") || name == "." || name == ".." {
		return errdefs.InvalidArgumentf("invalid bridge name %q", name)
	}
	if strings.HasPrefix(name, s.cfg.BridgePrefix) {
		return errdefs.InvalidArgumentf("bridge name %q is reserved for berth's own devices", name)
	}
	for _, o := range s.store.List() {
		if o.Bridge == name {
			return errdefs.Conflictf("bridge name %s is already in use by network %s", name, o.Name)
		}
	}
	if bridge.Exists(name) {
		return errdefs.Conflictf("a network interface named %s already exists", name)
	}
	return nil
}

// configureIPAM takes the subnet, gateway and range from the request or
// chooses a free subnet.
func (s *Service) configureIPAM(n *network.Network, req *apinet.IPAM) error {
	var cfg apinet.IPAMConfig
	if req != nil {
		var v4 []apinet.IPAMConfig
		for _, c := range req.Config {
			if c.Subnet.IsValid() && !c.Subnet.Addr().Is4() {
				return errdefs.NotImplemented(fmt.Errorf("IPv6 subnet %s: IPv6 networks are not supported by berth", c.Subnet))
			}
			v4 = append(v4, c)
		}
		if len(v4) > 1 {
			return errdefs.NotImplemented(fmt.Errorf("berth networks have one IPv4 subnet, got %d", len(v4)))
		}
		if len(v4) == 1 {
			cfg = v4[0]
		}
		if len(cfg.AuxAddress) > 0 {
			return errdefs.NotImplemented(fmt.Errorf("auxiliary addresses are not supported by berth"))
		}
	}
	if !cfg.Subnet.IsValid() && (cfg.Gateway.IsValid() || cfg.IPRange.IsValid()) {
		return errdefs.InvalidArgumentf("invalid pool request: a gateway or ip-range needs a subnet")
	}
	taken, err := s.takenSubnets("", "")
	if err != nil {
		return err
	}
	if cfg.Subnet.IsValid() {
		if cfg.Subnet != cfg.Subnet.Masked() {
			return errdefs.InvalidArgumentf("invalid subnet %s: it has host bits set (use %s)", cfg.Subnet, cfg.Subnet.Masked())
		}
		for _, o := range s.store.List() {
			if o.Subnet.IsValid() && o.Subnet.Overlaps(cfg.Subnet) {
				return errdefs.Forbidden(fmt.Errorf("invalid pool request: Pool overlaps with other one on this address space"))
			}
		}
		n.Subnet, n.UserSubnet = cfg.Subnet, true
		n.Gateway = cfg.Gateway
		if !n.Gateway.IsValid() {
			n.Gateway = ipam.FirstHost(n.Subnet)
		}
		n.IPRange = cfg.IPRange
	} else {
		sub, err := ipam.Choose(s.cfg.Pools, taken)
		if err != nil {
			return err
		}
		n.Subnet, n.Gateway = sub, ipam.FirstHost(sub)
	}
	if n.Gateway == n.Subnet.Addr() {
		return errdefs.InvalidArgumentf("invalid gateway %s: it is the subnet's network address", n.Gateway)
	}
	if _, err := ipam.NewPool(n.Subnet, n.IPRange, n.Gateway); err != nil {
		return err
	}
	return nil
}

func nonNilMap(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Inspect returns a network in Docker's shape, with its active endpoints.
func (s *Service) Inspect(_ context.Context, ref string) (apinet.Inspect, error) {
	n, err := s.lookup(ref)
	if err != nil {
		return apinet.Inspect{}, err
	}
	return s.inspect(n), nil
}

func (s *Service) inspect(n *network.Network) apinet.Inspect {
	out := apinet.Inspect{Network: s.summary(n), Containers: map[string]apinet.EndpointResource{}}
	s.mu.Lock()
	defer s.mu.Unlock()
	for cid, eps := range s.eps {
		for _, ep := range eps {
			if ep.NetworkID != n.ID {
				continue
			}
			name := cid[:12]
			if len(ep.Names) > 0 {
				name = ep.Names[0]
			}
			mac, _ := parseMAC(ep.MAC)
			out.Containers[cid] = apinet.EndpointResource{
				Name: name, EndpointID: ep.ID, MacAddress: mac,
				IPv4Address: netip.PrefixFrom(ep.IP, n.Subnet.Bits()),
			}
		}
	}
	return out
}

func (s *Service) summary(n *network.Network) apinet.Network {
	out := apinet.Network{
		Name: n.Name, ID: n.ID, Created: n.Created, Scope: "local", Driver: n.Driver,
		EnableIPv4: n.Driver == network.DriverBridge, Internal: n.Internal,
		IPAM:    apinet.IPAM{Driver: "default", Options: map[string]string{}, Config: []apinet.IPAMConfig{}},
		Options: nonNilMap(n.Options), Labels: nonNilMap(n.Labels),
	}
	if n.Subnet.IsValid() {
		out.IPAM.Config = append(out.IPAM.Config, apinet.IPAMConfig{Subnet: n.Subnet, Gateway: n.Gateway, IPRange: n.IPRange})
	}
	if n.Name == network.NameBridge {
		out.Options["com.docker.network.bridge.default_bridge"] = "true"
		out.Options["com.docker.network.bridge.enable_icc"] = "true"
		out.Options["com.docker.network.bridge.enable_ip_masquerade"] = "true"
		out.Options["com.docker.network.bridge.host_binding_ipv4"] = "0.0.0.0"
		out.Options[network.OptionBridgeName] = n.Bridge
		if n.MTU > 0 {
			out.Options[network.OptionMTU] = strconv.Itoa(n.MTU)
		}
	}
	return out
}

// List returns the networks that match the filters (name, id, driver,
// label, type=custom|builtin, scope, dangling).
func (s *Service) List(_ context.Context, filters map[string][]string) ([]apinet.Summary, error) {
	for k := range filters {
		switch k {
		case "name", "id", "driver", "label", "type", "scope", "dangling":
		default:
			return nil, errdefs.InvalidArgumentf("invalid filter '%s'", k)
		}
	}
	var out []apinet.Summary
	for _, n := range s.store.List() {
		ok, err := s.matches(n, filters)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, apinet.Summary{Network: s.summary(n)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (s *Service) matches(n *network.Network, f map[string][]string) (bool, error) {
	any := func(key string, ok func(v string) bool) bool {
		vs, set := f[key]
		if !set {
			return true
		}
		for _, v := range vs {
			if ok(v) {
				return true
			}
		}
		return false
	}
	if !any("name", func(v string) bool { return strings.Contains(n.Name, v) }) ||
		!any("id", func(v string) bool { return strings.HasPrefix(n.ID, v) }) ||
		!any("driver", func(v string) bool { return v == n.Driver }) ||
		!any("scope", func(v string) bool { return v == "local" }) {
		return false, nil
	}
	for _, v := range f["type"] {
		if v != "custom" && v != "builtin" {
			return false, errdefs.InvalidArgumentf("invalid filter: 'type'='%s'", v)
		}
	}
	if !any("type", func(v string) bool { return (v == "builtin") == n.Predefined() }) {
		return false, nil
	}
	for _, l := range f["label"] {
		k, v, hasV := strings.Cut(l, "=")
		got, ok := n.Labels[k]
		if !ok || hasV && got != v {
			return false, nil
		}
	}
	for _, v := range f["dangling"] {
		want := v == "true" || v == "1"
		if v != "true" && v != "false" && v != "1" && v != "0" {
			return false, errdefs.InvalidArgumentf("invalid filter 'dangling=%s'", v)
		}
		if want != (!n.Predefined() && !s.inUse(n.ID)) {
			return false, nil
		}
	}
	return true, nil
}

func (s *Service) inUse(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, eps := range s.eps {
		for _, ep := range eps {
			if ep.NetworkID == id {
				return true
			}
		}
	}
	return false
}

// Remove deletes a user network without active endpoints: its bridge,
// rules and record.
func (s *Service) Remove(_ context.Context, ref string) error {
	s.createMu.Lock()
	defer s.createMu.Unlock()
	n, err := s.lookup(ref)
	if err != nil {
		return err
	}
	if n.Predefined() {
		return errdefs.Forbidden(fmt.Errorf("%s is a pre-defined network and cannot be removed", n.Name))
	}
	s.mu.Lock()
	var users []string
	for cid, eps := range s.eps {
		for _, ep := range eps {
			if ep.NetworkID == n.ID {
				name := ""
				if len(ep.Names) > 0 {
					name = ep.Names[0]
				}
				users = append(users, fmt.Sprintf("name:%q id:%q", name, cid[:12]))
			}
		}
	}
	s.mu.Unlock()
	if len(users) > 0 {
		sort.Strings(users)
		return errdefs.Forbidden(fmt.Errorf("error while removing network: network %s has active endpoints (%s)", n.Name, strings.Join(users, ", ")))
	}
	s.mu.Lock()
	delete(s.pools, n.ID)
	delete(s.bridges, n.ID)
	s.mu.Unlock()
	if err := s.store.Delete(n.ID); err != nil {
		return err
	}
	s.mu.Lock()
	werr := s.writeStateLocked()
	s.mu.Unlock()
	var errs []string
	for _, err := range []error{werr, s.fw.RemoveNetwork(n.ID), s.fw.RemoveForwardAccept(n.Bridge), bridge.Delete(n.Bridge)} {
		if err != nil {
			errs = append(errs, err.Error())
		}
	}
	if !s.hasDNSNetworks() {
		s.dns.stop()
	}
	s.emit(eventtypes.ActionDestroy, n, nil)
	if len(errs) > 0 {
		return fmt.Errorf("remove network %s: %s", n.Name, strings.Join(errs, "; "))
	}
	return nil
}

// Prune removes the user networks no running container uses (filters:
// until, label, label!).
func (s *Service) Prune(ctx context.Context, filters map[string][]string) (apinet.PruneReport, error) {
	rep := apinet.PruneReport{NetworksDeleted: []string{}}
	var until time.Time
	for k, vs := range filters {
		switch k {
		case "until":
			for _, v := range vs {
				t, err := parseUntil(v)
				if err != nil {
					return rep, err
				}
				until = t
			}
		case "label", "label!":
		default:
			return rep, errdefs.InvalidArgumentf("invalid filter '%s'", k)
		}
	}
	for _, n := range s.store.List() {
		if n.Predefined() || s.inUse(n.ID) {
			continue
		}
		if !until.IsZero() && !n.Created.Before(until) {
			continue
		}
		if !labelsMatch(n.Labels, filters["label"], filters["label!"]) {
			continue
		}
		if err := s.Remove(ctx, n.ID); err != nil {
			if errdefs.IsNotFound(err) || errors.Is(err, errdefs.ErrForbidden) {
				continue
			}
			return rep, err
		}
		rep.NetworksDeleted = append(rep.NetworksDeleted, n.Name)
	}
	return rep, nil
}

func labelsMatch(labels map[string]string, want, not []string) bool {
	has := func(l string) bool {
		k, v, hasV := strings.Cut(l, "=")
		got, ok := labels[k]
		return ok && (!hasV || got == v)
	}
	for _, l := range want {
		if !has(l) {
			return false
		}
	}
	for _, l := range not {
		if has(l) {
			return false
		}
	}
	return true
}

// parseUntil reads a Unix timestamp, an RFC 3339 time or a duration
// before now ("10m").
func parseUntil(v string) (time.Time, error) {
	if d, err := time.ParseDuration(v); err == nil {
		return time.Now().Add(-d), nil
	}
	if sec, err := strconv.ParseFloat(v, 64); err == nil {
		return time.Unix(int64(sec), 0), nil
	}
	for _, layout := range []string{time.RFC3339Nano, time.RFC3339, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errdefs.InvalidArgumentf("invalid filter 'until=%s'", v)
}
