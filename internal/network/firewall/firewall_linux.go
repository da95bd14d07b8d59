// Package firewall keeps berth's packet filtering and NAT in its own
// nftables table, set through netlink (no nft or iptables binary):
// masquerade for egress, DNAT for published ports (also from the host's
// loopback and, hairpinned, from containers), the redirect of DNS queries
// to the resolver, isolation between networks and for internal networks.
// Rules are tagged (rule comments) by the network or container they belong
// to, so they can be removed one owner at a time. It also keeps accept
// rules for berth's bridges in other tables' forward chains whose policy
// is drop (dockerd's FORWARD), which would otherwise drop berth's traffic.
package firewall

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// Network is what the rules of one bridge network need.
type Network struct {
	ID       string
	Bridge   string
	Subnet   netip.Prefix
	Gateway  netip.Addr
	Internal bool
	// DNSPort is where the resolver listens on the gateway address; DNS
	// queries to the gateway's port 53 are redirected there. 0: none.
	DNSPort uint16
}

// Port is one published port.
type Port struct {
	// HostIP is the host address it is published on; invalid or
	// unspecified (0.0.0.0) means every address.
	HostIP        netip.Addr
	HostPort      uint16
	Proto         string // "tcp" or "udp"
	ContainerIP   netip.Addr
	ContainerPort uint16
}

// Chain names in berth's table.
const (
	chainPrerouting  = "prerouting"
	chainOutput      = "output"
	chainPostrouting = "postrouting"
	chainForward     = "forward"
	chainInput       = "input"
	chainPorts       = "ports"
)

// Firewall is berth's nftables table of the given name (family inet).
type Firewall struct {
	table *nftables.Table
	mu    sync.Mutex
}

// New returns the firewall over table name; nothing is changed until
// Reset.
func New(name string) *Firewall {
	return &Firewall{table: &nftables.Table{Name: name, Family: nftables.TableFamilyINet}}
}

// Table is the table's name.
func (f *Firewall) Table() string { return f.table.Name }

func (f *Firewall) chains() map[string]*nftables.Chain {
	accept := nftables.ChainPolicyAccept
	return map[string]*nftables.Chain{
		chainPrerouting:  {Name: chainPrerouting, Table: f.table, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityNATDest},
		chainOutput:      {Name: chainOutput, Table: f.table, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityNATDest},
		chainPostrouting: {Name: chainPostrouting, Table: f.table, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource},
		chainForward:     {Name: chainForward, Table: f.table, Type: nftables.ChainTypeFilter, Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &accept},
		chainInput:       {Name: chainInput, Table: f.table, Type: nftables.ChainTypeFilter, Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityFilter, Policy: &accept},
		chainPorts:       {Name: chainPorts, Table: f.table},
	}
}

func (f *Firewall) chain(name string) *nftables.Chain {
	return &nftables.Chain{Name: name, Table: f.table}
}

// Reset replaces the table, in one transaction, with one holding the
// rules of nets and the published ports of each owner (container).
func (f *Firewall) Reset(nets []Network, ports map[string][]Port) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	// Adding first makes the delete valid when the table did not exist.
	c.AddTable(f.table)
	c.DelTable(f.table)
	c.AddTable(f.table)
	chains := f.chains()
	for _, name := range []string{chainPorts, chainPrerouting, chainOutput, chainPostrouting, chainForward, chainInput} {
		c.AddChain(chains[name])
	}
	for _, name := range []string{chainPrerouting, chainOutput} {
		// fib daddr type local jump ports
		c.AddRule(&nftables.Rule{Table: f.table, Chain: f.chain(name), Exprs: concat(
			[]expr.Any{
				&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
			},
			verdict(expr.VerdictJump, chainPorts),
		)})
	}
	for _, n := range nets {
		f.addNetwork(c, n)
	}
	for owner, ps := range ports {
		if err := f.addPorts(c, owner, ps); err != nil {
			return err
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: set up table %s: %w", f.table.Name, err)
	}
	return nil
}

// Delete removes the table.
func (f *Firewall) Delete() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := nftables.New()
	if err != nil {
		return err
	}
	c.AddTable(f.table)
	c.DelTable(f.table)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: delete table %s: %w", f.table.Name, err)
	}
	return nil
}

// AddNetwork installs the rules of n (replacing any it had).
func (f *Firewall) AddNetwork(n Network) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := nftables.New()
	if err != nil {
		return err
	}
	if err := f.delTagged(c, netTag(n.ID), chainPrerouting, chainPostrouting, chainForward, chainInput); err != nil {
		return err
	}
	f.addNetwork(c, n)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: rules of network %s: %w", n.Bridge, err)
	}
	return nil
}

// RemoveNetwork removes the rules of network id.
func (f *Firewall) RemoveNetwork(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := nftables.New()
	if err != nil {
		return err
	}
	if err := f.delTagged(c, netTag(id), chainPrerouting, chainPostrouting, chainForward, chainInput); err != nil {
		return err
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: remove rules of network %s: %w", id, err)
	}
	return nil
}

// AddPorts publishes ports for owner (a container).
func (f *Firewall) AddPorts(owner string, ports []Port) error {
	if len(ports) == 0 {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := nftables.New()
	if err != nil {
		return err
	}
	if err := f.addPorts(c, owner, ports); err != nil {
		return err
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: publish ports: %w", err)
	}
	return nil
}

// RemovePorts removes the published ports of owner.
func (f *Firewall) RemovePorts(owner string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := nftables.New()
	if err != nil {
		return err
	}
	if err := f.delTagged(c, portTag(owner), chainPorts); err != nil {
		return err
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: remove published ports: %w", err)
	}
	return nil
}

// Rules counts the rules in berth's table by owner tag ("n:ID" for
// networks, "c:ID" for containers' ports, "" for the table's own).
func (f *Firewall) Rules() (map[string]int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := nftables.New()
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for name := range f.chains() {
		rules, err := c.GetRules(f.table, f.chain(name))
		if err != nil {
			return nil, fmt.Errorf("nftables: list %s: %w", name, err)
		}
		for _, r := range rules {
			tag, _ := userdata.GetString(r.UserData, userdata.TypeComment)
			out[strings.TrimPrefix(tag, tagPrefix)]++
		}
	}
	return out, nil
}

const tagPrefix = "berth:"

func netTag(id string) string     { return tagPrefix + "n:" + id }
func portTag(owner string) string { return tagPrefix + "c:" + owner }

func (f *Firewall) delTagged(c *nftables.Conn, tag string, chains ...string) error {
	for _, name := range chains {
		rules, err := c.GetRules(f.table, f.chain(name))
		if err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue
			}
			return fmt.Errorf("nftables: list %s: %w", name, err)
		}
		for _, r := range rules {
			if t, _ := userdata.GetString(r.UserData, userdata.TypeComment); t == tag {
				if err := c.DelRule(r); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (f *Firewall) rule(c *nftables.Conn, chain, tag string, exprs ...[]expr.Any) {
	c.AddRule(&nftables.Rule{
		Table: f.table, Chain: f.chain(chain), Exprs: concat(exprs...),
		UserData: userdata.AppendString(nil, userdata.TypeComment, tag),
	})
}

func (f *Firewall) addNetwork(c *nftables.Conn, n Network) {
	tag := netTag(n.ID)
	br := n.Bridge
	if n.DNSPort != 0 {
		for _, proto := range []byte{unix.IPPROTO_UDP, unix.IPPROTO_TCP} {
			// iifname BR ip daddr GW udp dport 53 redirect to :PORT
			f.rule(c, chainPrerouting, tag, ifname(expr.MetaKeyIIFNAME, expr.CmpOpEq, br), ipv4(), ipAddr(16, n.Gateway),
				l4proto(proto), dport(53),
				[]expr.Any{
					&expr.Immediate{Register: 1, Data: binaryutil.BigEndian.PutUint16(n.DNSPort)},
					&expr.Redir{RegisterProtoMin: 1, Flags: expr.NF_NAT_RANGE_PROTO_SPECIFIED},
				})
		}
	}
	// route_localnet (for published ports on 127.0.0.1) would let a
	// container reach the host's loopback services through the bridge:
	// nothing from the bridge to 127.0.0.0/8 comes in but the answers to
	// the host's own connections (published ports used on 127.0.0.1).
	f.rule(c, chainInput, tag, ifname(expr.MetaKeyIIFNAME, expr.CmpOpEq, br), ipv4(), ipPrefix(16, netip.MustParsePrefix("127.0.0.0/8")),
		ctStateNotEstablished(), verdict(expr.VerdictDrop, ""))
	if n.Internal {
		// No traffic leaves or enters the network.
		f.rule(c, chainForward, tag, ifname(expr.MetaKeyIIFNAME, expr.CmpOpEq, br), ifname(expr.MetaKeyOIFNAME, expr.CmpOpNeq, br), verdict(expr.VerdictDrop, ""))
		f.rule(c, chainForward, tag, ifname(expr.MetaKeyOIFNAME, expr.CmpOpEq, br), ifname(expr.MetaKeyIIFNAME, expr.CmpOpNeq, br), verdict(expr.VerdictDrop, ""))
		return
	}
	// Nothing comes in unless it answers the containers or was published
	// (DNAT): isolates networks from each other and from routed traffic.
	f.rule(c, chainForward, tag, ifname(expr.MetaKeyOIFNAME, expr.CmpOpEq, br), ifname(expr.MetaKeyIIFNAME, expr.CmpOpNeq, br),
		ctStateNew(), ctNotDNAT(), verdict(expr.VerdictDrop, ""))
	// Egress: ip saddr SUBNET oifname != BR masquerade
	f.rule(c, chainPostrouting, tag, ipv4(), ipPrefix(12, n.Subnet), ifname(expr.MetaKeyOIFNAME, expr.CmpOpNeq, br), []expr.Any{&expr.Masq{}})
	// Published ports from the host's loopback: oifname BR ip saddr 127.0.0.0/8 masquerade
	f.rule(c, chainPostrouting, tag, ifname(expr.MetaKeyOIFNAME, expr.CmpOpEq, br), ipv4(), ipPrefix(12, netip.MustParsePrefix("127.0.0.0/8")), []expr.Any{&expr.Masq{}})
	// Hairpin: a container reaching a published port of its own network
	// through the host gets the answer through the host too.
	f.rule(c, chainPostrouting, tag, ifname(expr.MetaKeyOIFNAME, expr.CmpOpEq, br), ipv4(), ipPrefix(12, n.Subnet), ctDNAT(), []expr.Any{&expr.Masq{}})
}

func (f *Firewall) addPorts(c *nftables.Conn, owner string, ports []Port) error {
	tag := portTag(owner)
	for _, p := range ports {
		var proto byte
		switch p.Proto {
		case "tcp", "":
			proto = unix.IPPROTO_TCP
		case "udp":
			proto = unix.IPPROTO_UDP
		default:
			return fmt.Errorf("unsupported protocol %q", p.Proto)
		}
		match := [][]expr.Any{ipv4()}
		if p.HostIP.IsValid() && !p.HostIP.IsUnspecified() {
			if !p.HostIP.Is4() {
				return fmt.Errorf("host address %s: only IPv4 is supported", p.HostIP)
			}
			match = append(match, ipAddr(16, p.HostIP))
		}
		ip := p.ContainerIP.As4()
		match = append(match, l4proto(proto), dport(p.HostPort), []expr.Any{
			&expr.Immediate{Register: 1, Data: ip[:]},
			&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(p.ContainerPort)},
			&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2, Specified: true},
		})
		f.rule(c, chainPorts, tag, match...)
	}
	return nil
}

func concat(parts ...[]expr.Any) []expr.Any {
	var out []expr.Any
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func verdict(kind expr.VerdictKind, chain string) []expr.Any {
	return []expr.Any{&expr.Verdict{Kind: kind, Chain: chain}}
}

// ifname matches an interface name exactly, encoded as iptables-nft
// does ("name\0"), so that iptables can list rules in its own chains.
func ifname(key expr.MetaKey, op expr.CmpOp, name string) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: key, Register: 1},
		&expr.Cmp{Op: op, Register: 1, Data: append([]byte(name), 0)},
	}
}

func ipv4() []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV4}},
	}
}

func l4proto(p byte) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{p}},
	}
}

func dport(port uint16) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(port)},
	}
}

// ipAddr matches the IPv4 address at offset (12 saddr, 16 daddr).
func ipAddr(offset uint32, a netip.Addr) []expr.Any {
	b := a.As4()
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: b[:]},
	}
}

// ipPrefix matches the IPv4 address at offset against a prefix.
func ipPrefix(offset uint32, p netip.Prefix) []expr.Any {
	p = p.Masked()
	b := p.Addr().As4()
	m := [4]byte{}
	for i := 0; i < p.Bits(); i++ {
		m[i/8] |= 0x80 >> (i % 8)
	}
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: m[:], Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: b[:]},
	}
}

const ipsDstNAT = 0x20 // IPS_DST_NAT in ct status

func ctStatusDNAT(op expr.CmpOp) []expr.Any {
	return []expr.Any{
		&expr.Ct{Key: expr.CtKeySTATUS, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: binaryutil.NativeEndian.PutUint32(ipsDstNAT), Xor: binaryutil.NativeEndian.PutUint32(0)},
		&expr.Cmp{Op: op, Register: 1, Data: binaryutil.NativeEndian.PutUint32(0)},
	}
}

func ctDNAT() []expr.Any    { return ctStatusDNAT(expr.CmpOpNeq) }
func ctNotDNAT() []expr.Any { return ctStatusDNAT(expr.CmpOpEq) }

// ctStateNotEstablished matches packets that neither belong to nor
// relate to a known connection.
func ctStateNotEstablished() []expr.Any {
	return []expr.Any{
		&expr.Ct{Key: expr.CtKeySTATE, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED), Xor: binaryutil.NativeEndian.PutUint32(0)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(0)},
	}
}

func ctStateNew() []expr.Any {
	return []expr.Any{
		&expr.Ct{Key: expr.CtKeySTATE, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitNEW), Xor: binaryutil.NativeEndian.PutUint32(0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(0)},
	}
}
