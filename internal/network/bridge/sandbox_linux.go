package bridge

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Endpoint is one veth pair from a bridge into a namespace.
type Endpoint struct {
	// HostName is the host side's name; Name the namespace side's
	// ("eth0").
	HostName, Name string
	// BridgeIndex is the bridge's interface index.
	BridgeIndex int
	// Addr is the address and prefix inside; Gateway, when valid, becomes
	// the namespace's default route.
	Addr    netip.Prefix
	Gateway netip.Addr
	MAC     net.HardwareAddr
	MTU     int
}

// NewSandbox creates a network namespace bound at path (which must not
// exist), brings its loopback up and plugs the endpoints in. On error
// nothing is left behind.
func NewSandbox(path string, eps []Endpoint) error {
	if err := NewNetns(path); err != nil {
		return err
	}
	if err := AddEndpoints(path, eps); err != nil {
		_ = DeleteSandbox(path)
		return err
	}
	return nil
}

// NewNetns creates a network namespace bound at path (which must not
// exist) with its loopback up. On error nothing is left behind.
func NewNetns(path string) (err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o711); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		return fmt.Errorf("create netns file: %w", err)
	}
	f.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("open own network namespace: %w", err)
			return
		}
		defer unix.Close(orig)
		errc <- newNetns(path)
		// Back to the daemon's namespace before the thread is reused. If
		// that fails the thread stays locked and the runtime ends it (or,
		// for the main thread, parks it for good).
		if unix.Setns(orig, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
	}()
	if err := <-errc; err != nil {
		_ = DeleteSandbox(path)
		return err
	}
	return nil
}

func newNetns(path string) error {
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("unshare network namespace: %w", err)
	}
	self := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
	if err := unix.Mount(self, path, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind network namespace to %s: %w", path, err)
	}
	// A socket opened now is inside the new namespace.
	inside, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("netlink in namespace: %w", err)
	}
	defer inside.Close()
	if err := inside.LinkSetUp(&netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: 1, Name: "lo"}}); err != nil {
		return fmt.Errorf("set lo up: %w", err)
	}
	return nil
}

// nsHandle opens the network namespace at path and a netlink handle in it;
// the caller closes both.
func nsHandle(path string) (netns.NsHandle, *netlink.Handle, error) {
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return ns, nil, fmt.Errorf("open network namespace: %w", err)
	}
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		ns.Close()
		return ns, nil, fmt.Errorf("netlink in namespace: %w", err)
	}
	return ns, h, nil
}

// AddEndpoints plugs the endpoints into the namespace at path. On error
// the ones it made are deleted again.
func AddEndpoints(path string, eps []Endpoint) (err error) {
	if len(eps) == 0 {
		return nil
	}
	ns, h, err := nsHandle(path)
	if err != nil {
		return err
	}
	defer ns.Close()
	defer h.Close()
	host, err := nl.GetNetlinkSocketAt(netns.None(), netns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("netlink: %w", err)
	}
	defer host.Close()
	var made []string
	defer func() {
		if err != nil {
			for _, name := range made {
				_ = Delete(name)
			}
		}
	}()
	for _, ep := range eps {
		if err := addVeth(host, ep, int(ns)); err != nil {
			return err
		}
		made = append(made, ep.HostName)
		if err := configure(h, ep); err != nil {
			return err
		}
	}
	return nil
}

// AddEndpoint plugs ep into the existing namespace at path (network
// connect of a running container).
func AddEndpoint(path string, ep Endpoint) error { return AddEndpoints(path, []Endpoint{ep}) }

// RemoveEndpoint deletes the interface name inside the namespace at path
// (its host side goes with it).
func RemoveEndpoint(path, name string) error {
	ns, h, err := nsHandle(path)
	if err != nil {
		return err
	}
	defer ns.Close()
	defer h.Close()
	link, err := h.LinkByName(name)
	if err != nil {
		if isNotFound(err) {
			return nil
		}
		return fmt.Errorf("find %s: %w", name, err)
	}
	if err := h.LinkDel(link); err != nil && !isNotFound(err) {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	return nil
}

// addVeth creates the pair in one request: the host side up and enslaved
// to the bridge, the other side named ep.Name inside the namespace nsfd.
func addVeth(host *nl.NetlinkSocket, ep Endpoint, nsfd int) error {
	req := &nl.NetlinkRequest{
		NlMsghdr: unix.NlMsghdr{Type: unix.RTM_NEWLINK, Flags: unix.NLM_F_REQUEST | unix.NLM_F_CREATE | unix.NLM_F_EXCL | unix.NLM_F_ACK},
		Sockets:  map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: {Socket: host}},
	}
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Flags, msg.Change = unix.IFF_UP, unix.IFF_UP
	req.AddData(msg)
	req.AddData(nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(ep.HostName)))
	if ep.MTU > 0 {
		req.AddData(nl.NewRtAttr(unix.IFLA_MTU, nl.Uint32Attr(uint32(ep.MTU))))
	}
	req.AddData(nl.NewRtAttr(unix.IFLA_MASTER, nl.Uint32Attr(uint32(ep.BridgeIndex))))
	info := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
	info.AddRtAttr(nl.IFLA_INFO_KIND, nl.NonZeroTerminated("veth"))
	data := info.AddRtAttr(nl.IFLA_INFO_DATA, nil)
	peer := data.AddRtAttr(nl.VETH_INFO_PEER, nil)
	nl.NewIfInfomsgChild(peer, unix.AF_UNSPEC)
	peer.AddRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(ep.Name))
	if ep.MTU > 0 {
		peer.AddRtAttr(unix.IFLA_MTU, nl.Uint32Attr(uint32(ep.MTU)))
	}
	if ep.MAC != nil {
		peer.AddRtAttr(unix.IFLA_ADDRESS, []byte(ep.MAC))
	}
	peer.AddRtAttr(unix.IFLA_NET_NS_FD, nl.Uint32Attr(uint32(nsfd)))
	req.AddData(info)
	if _, err := req.Execute(unix.NETLINK_ROUTE, 0); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("create veth %s: an interface of that name exists: %w", ep.HostName, err)
		}
		return fmt.Errorf("create veth %s: %w", ep.HostName, err)
	}
	// Hairpin: a container reaching its own published port through the
	// gateway gets its packets back out of the port they came in by.
	if err := os.WriteFile("/sys/class/net/"+ep.HostName+"/brport/hairpin_mode", []byte("1"), 0o644); err != nil {
		return fmt.Errorf("hairpin mode on %s: %w", ep.HostName, err)
	}
	return nil
}

// addrGenModeNone is IN6_ADDR_GEN_MODE_NONE: no link-local address.
const addrGenModeNone = 1

// configure gives the namespace side its address, brings it up and adds
// the default route.
func configure(h *netlink.Handle, ep Endpoint) error {
	link, err := h.LinkByName(ep.Name)
	if err != nil {
		return fmt.Errorf("find %s in namespace: %w", ep.Name, err)
	}
	// No IPv6 link-local address inside: berth's networks are IPv4, and
	// with hairpin on (see addVeth) the address's duplicate detection
	// would see its own reflected probes. Set before the link goes up.
	if err := h.LinkSetIP6AddrGenMode(link, addrGenModeNone); err != nil && !errors.Is(err, unix.EAFNOSUPPORT) {
		return fmt.Errorf("address generation mode of %s: %w", ep.Name, err)
	}
	if err := h.AddrAdd(link, &netlink.Addr{IPNet: ipNet(ep.Addr)}); err != nil {
		return fmt.Errorf("add %s to %s: %w", ep.Addr, ep.Name, err)
	}
	if err := h.LinkSetUp(link); err != nil {
		return fmt.Errorf("set %s up: %w", ep.Name, err)
	}
	if ep.Gateway.IsValid() {
		gw := ep.Gateway.As4()
		r := &netlink.Route{LinkIndex: link.Attrs().Index, Gw: net.IP(gw[:]), Scope: netlink.SCOPE_UNIVERSE}
		if err := h.RouteAdd(r); err != nil {
			return fmt.Errorf("add default route via %s: %w", ep.Gateway, err)
		}
	}
	return nil
}

// DeleteSandbox unbinds and removes the namespace file at path; the
// kernel frees the namespace (and the veths still in it) once no process
// uses it. A missing file is not an error.
func DeleteSandbox(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

// PrivateDir makes dir a private bind mount of itself, so that the
// namespace files bound below it do not propagate into other mount
// namespaces (and keep namespaces alive there).
func PrivateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return err
	}
	if err := unix.Mount("", dir, "", unix.MS_PRIVATE, ""); err == nil {
		return nil // already a mount point
	}
	if err := unix.Mount(dir, dir, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind %s: %w", dir, err)
	}
	if err := unix.Mount("", dir, "", unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make %s private: %w", dir, err)
	}
	return nil
}
