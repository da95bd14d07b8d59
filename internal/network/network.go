// Package network holds berth's network records and their store, and the
// endpoint table that says which container has which address on which
// network. The kernel side lives in the subpackages: bridge (netlink),
// firewall (nftables), ipam (addresses), portmap (published ports) and
// dns (the resolver of container names).
package network

import (
	"net/netip"
	"time"
)

// Drivers.
const (
	DriverBridge = "bridge"
	DriverHost   = "host"
	DriverNull   = "null"
)

// Names of the predefined networks.
const (
	NameBridge = "bridge"
	NameHost   = "host"
	NameNone   = "none"
)

// Docker's bridge driver options berth honours.
const (
	OptionBridgeName = "com.docker.network.bridge.name"
	OptionMTU        = "com.docker.network.driver.mtu"
)

// Network is one network's record.
type Network struct {
	ID      string
	Name    string
	Driver  string
	Created time.Time
	// Subnet and Gateway of a bridge network; UserSubnet says they came
	// from the user (else they were chosen, and are chosen again when a
	// route of the host took them meanwhile).
	Subnet     netip.Prefix
	Gateway    netip.Addr
	IPRange    netip.Prefix
	UserSubnet bool
	Internal   bool
	Labels     map[string]string
	Options    map[string]string
	// Bridge is the bridge device's name; MTU its MTU (0: the kernel's).
	Bridge string
	MTU    int
}

// Predefined reports whether n is one of bridge, host and none.
func (n *Network) Predefined() bool {
	return n.Name == NameBridge || n.Name == NameHost || n.Name == NameNone
}

// UserDefined reports whether n is a bridge network made by the user
// (these have DNS by container name).
func (n *Network) UserDefined() bool { return n.Driver == DriverBridge && !n.Predefined() }

// Endpoint is a container's attachment to a network while it runs: the
// address it leases and the devices that carry it.
type Endpoint struct {
	ID          string
	NetworkID   string
	ContainerID string
	// Names are what DNS answers for: the container's name, its short
	// ID and its aliases on this network.
	Names []string
	IP    netip.Addr
	MAC   string
	// HostIf is the veth's host side; IfName its name in the container.
	HostIf string
	IfName string
	// Gateway is set on the endpoint the container's default route (and
	// its published ports) go through.
	Gateway bool `json:",omitempty"`
	// Upstreams are the container's own DNS servers (--dns), used for
	// names DNS does not know; empty means the host's.
	Upstreams []string `json:",omitempty"`
}
