// Package dns is berth's resolver for user-defined networks. It runs as
// its own process (`berth dns-resolver`), so that names keep resolving
// while the daemon is down or restarting. It reads the daemon's network
// state file (reloaded when it changes) and answers, for a query from a
// container, the addresses of containers (by name, short ID or alias)
// that share a network with it; other names go to the container's own
// servers (--dns) or the host's, and PTR queries of container addresses
// get the container's name.
//
// Queries reach it through a redirect in berth's nftables table: the
// containers' resolv.conf names their gateway, and queries to the
// gateway's port 53 are redirected to the resolver's port. The resolver
// serves one UDP socket and one TCP listener on all addresses and tells
// the networks apart by the destination address of each query (the
// gateway); it answers only sources inside that network.
package dns

import (
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/berth-project/berth/internal/network"
	"github.com/berth-project/berth/internal/network/resolvconf"
)

// TTL of the answers about containers (Docker's).
const TTL = 600

// Resolver answers queries from the state at StatePath.
type Resolver struct {
	StatePath  string
	ResolvConf string // the host's resolv.conf
	// Timeout bounds one exchange with an upstream server.
	Timeout time.Duration

	mu       sync.Mutex
	state    *network.State
	stamp    stamp
	hostNS   []string
	rcStamp  stamp
	byGW     map[netip.Addr]*network.StateNetwork
	byNet    map[string][]*network.Endpoint // network ID → endpoints
	byCIDNet map[string][]string            // container ID → its network IDs
}

// New returns a resolver over the state file at path.
func New(path string) *Resolver {
	return &Resolver{StatePath: path, ResolvConf: "/etc/resolv.conf", Timeout: 3 * time.Second}
}

type stamp struct {
	ino   uint64
	mtime int64
	size  int64
}

func statStamp(path string) (stamp, bool) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return stamp{}, false
	}
	return stamp{ino: st.Ino, mtime: st.Mtim.Nano(), size: st.Size}, true
}

// refresh reloads the state and the host's resolvers when their files
// changed. The state file is replaced by rename, so a new inode means
// new content.
func (r *Resolver) refresh() {
	if s, ok := statStamp(r.StatePath); ok && s != r.stamp {
		if st, err := network.ReadState(r.StatePath); err == nil {
			r.stamp = s
			r.index(st)
		}
	}
	if s, ok := statStamp(r.ResolvConf); ok && s != r.rcStamp {
		b, err := os.ReadFile(r.ResolvConf)
		if err == nil {
			r.rcStamp = s
			r.hostNS = resolvconf.Parse(b).Nameservers
		}
	}
}

func (r *Resolver) index(st *network.State) {
	r.state = st
	r.byGW = map[netip.Addr]*network.StateNetwork{}
	r.byNet = map[string][]*network.Endpoint{}
	r.byCIDNet = map[string][]string{}
	for i := range st.Networks {
		n := &st.Networks[i]
		if n.DNS {
			r.byGW[n.Gateway] = n
		}
	}
	for i := range st.Endpoints {
		ep := &st.Endpoints[i]
		r.byNet[ep.NetworkID] = append(r.byNet[ep.NetworkID], ep)
		r.byCIDNet[ep.ContainerID] = append(r.byCIDNet[ep.ContainerID], ep.NetworkID)
	}
}

// verdict is what to do with a query.
type verdict struct {
	drop      bool // not from a network berth serves: no answer at all
	rcode     dnsmessage.RCode
	addrs     []netip.Addr // A answers
	ptr       string       // PTR answer
	known     bool         // the name is a container's (answer even if empty)
	forward   bool
	upstreams []string
}

// decide resolves q asked by src at dst (the gateway it was sent to).
func (r *Resolver) decide(q dnsmessage.Question, src, dst netip.Addr) verdict {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refresh()
	n := r.byGW[dst]
	if n == nil || !n.Subnet.Contains(src) {
		return verdict{drop: true}
	}
	// The asking container and the networks it is on, its own first.
	nets := []string{n.ID}
	var upstreams []string
	for _, ep := range r.byNet[n.ID] {
		if ep.IP == src {
			for _, id := range r.byCIDNet[ep.ContainerID] {
				if id != n.ID && r.servesDNS(id) {
					nets = append(nets, id)
				}
			}
			upstreams = ep.Upstreams
			break
		}
	}
	name := strings.ToLower(strings.TrimSuffix(q.Name.String(), "."))
	switch q.Type {
	case dnsmessage.TypeA, dnsmessage.TypeAAAA, dnsmessage.TypeALL:
		for _, id := range nets {
			var addrs []netip.Addr
			for _, ep := range r.byNet[id] {
				for _, nm := range ep.Names {
					if strings.EqualFold(nm, name) {
						addrs = append(addrs, ep.IP)
						break
					}
				}
			}
			if len(addrs) > 0 {
				v := verdict{known: true}
				if q.Type != dnsmessage.TypeAAAA {
					v.addrs = addrs
				}
				return v
			}
		}
	case dnsmessage.TypePTR:
		if a, ok := ptrAddr(name); ok {
			for _, id := range nets {
				for _, ep := range r.byNet[id] {
					if ep.IP == a && len(ep.Names) > 0 {
						return verdict{known: true, ptr: ep.Names[0] + "."}
					}
				}
			}
		}
	}
	if n.Internal {
		// Nothing leaves an internal network, names neither.
		return verdict{rcode: dnsmessage.RCodeServerFailure}
	}
	if len(upstreams) == 0 {
		upstreams = r.hostNS
	}
	if len(upstreams) == 0 {
		return verdict{rcode: dnsmessage.RCodeServerFailure}
	}
	return verdict{forward: true, upstreams: append([]string(nil), upstreams...)}
}

func (r *Resolver) servesDNS(netID string) bool {
	for i := range r.state.Networks {
		if r.state.Networks[i].ID == netID {
			return r.state.Networks[i].DNS
		}
	}
	return false
}

// ptrAddr parses "4.3.2.1.in-addr.arpa".
func ptrAddr(name string) (netip.Addr, bool) {
	rest, ok := strings.CutSuffix(name, ".in-addr.arpa")
	if !ok {
		return netip.Addr{}, false
	}
	parts := strings.Split(rest, ".")
	if len(parts) != 4 {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(parts[3] + "." + parts[2] + "." + parts[1] + "." + parts[0])
	return a, err == nil
}

// reply builds the answer to query for v; it returns nil when the query
// must be forwarded or dropped.
func reply(query []byte, v verdict) []byte {
	if v.drop || v.forward {
		return nil
	}
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil
	}
	q, err := p.Question()
	if err != nil {
		return nil
	}
	b := dnsmessage.NewBuilder(make([]byte, 0, 512), dnsmessage.Header{
		ID: h.ID, Response: true, OpCode: h.OpCode, RecursionDesired: h.RecursionDesired,
		RecursionAvailable: true, RCode: v.rcode,
	})
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil
	}
	if err := b.Question(q); err != nil {
		return nil
	}
	if err := b.StartAnswers(); err != nil {
		return nil
	}
	rh := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: TTL}
	for _, a := range v.addrs {
		if err := b.AResource(rh, dnsmessage.AResource{A: a.As4()}); err != nil {
			return nil
		}
	}
	if v.ptr != "" {
		name, err := dnsmessage.NewName(v.ptr)
		if err == nil {
			if err := b.PTRResource(rh, dnsmessage.PTRResource{PTR: name}); err != nil {
				return nil
			}
		}
	}
	out, err := b.Finish()
	if err != nil {
		return nil
	}
	return out
}

// question parses the first question of a query.
func question(query []byte) (dnsmessage.Question, bool) {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil || h.Response {
		return dnsmessage.Question{}, false
	}
	q, err := p.Question()
	return q, err == nil
}

// servfail answers query with SERVFAIL.
func servfail(query []byte) []byte {
	if _, ok := question(query); !ok {
		return nil
	}
	return reply(query, verdict{rcode: dnsmessage.RCodeServerFailure})
}
