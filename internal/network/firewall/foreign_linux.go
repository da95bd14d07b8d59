package firewall

import (
	"bytes"
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
)

// EnsureForwardAccept makes every forward chain of another table whose
// policy is drop (dockerd's FORWARD in iptables-nft's "ip filter" table
// is one) accept traffic from and to the bridges, with two rules per
// bridge at the chain's head, as `iptables -I FORWARD -i BR -j ACCEPT`
// would write them. A packet dropped by any base chain is lost, so
// without them berth's containers have no egress while dockerd runs. It
// returns how many rules it added (dockerd recreates its chain when it
// restarts: the caller checks again periodically).
func (f *Firewall) EnsureForwardAccept(bridges []string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := nftables.New()
	if err != nil {
		return 0, err
	}
	chains, err := f.foreignDropChains(c)
	if err != nil {
		return 0, err
	}
	added := 0
	for _, ch := range chains {
		rules, err := c.GetRules(ch.Table, ch)
		if err != nil {
			return 0, fmt.Errorf("nftables: list %s %s: %w", ch.Table.Name, ch.Name, err)
		}
		for _, br := range bridges {
			for _, key := range []expr.MetaKey{expr.MetaKeyOIFNAME, expr.MetaKeyIIFNAME} {
				if hasAccept(rules, key, br) {
					continue
				}
				c.InsertRule(&nftables.Rule{
					Table: ch.Table, Chain: ch,
					Exprs:    concat(ifname(key, expr.CmpOpEq, br), []expr.Any{&expr.Counter{}}, verdict(expr.VerdictAccept, "")),
					UserData: userdata.AppendString(nil, userdata.TypeComment, f.foreignTag()),
				})
				added++
			}
		}
	}
	if added == 0 {
		return 0, nil
	}
	if err := c.Flush(); err != nil {
		return 0, fmt.Errorf("nftables: accept rules in forward chains: %w", err)
	}
	return added, nil
}

// RemoveForwardAccept removes the accept rules for bridge (or, with
// bridge "", all of this table's) from other tables' chains.
func (f *Firewall) RemoveForwardAccept(bridge string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := nftables.New()
	if err != nil {
		return err
	}
	chains, err := f.foreignDropChains(c)
	if err != nil {
		return err
	}
	n := 0
	for _, ch := range chains {
		rules, err := c.GetRules(ch.Table, ch)
		if err != nil {
			return fmt.Errorf("nftables: list %s %s: %w", ch.Table.Name, ch.Name, err)
		}
		for _, r := range rules {
			if t, _ := userdata.GetString(r.UserData, userdata.TypeComment); t != f.foreignTag() {
				continue
			}
			if bridge != "" && !matchesIfname(r, expr.MetaKeyIIFNAME, bridge) && !matchesIfname(r, expr.MetaKeyOIFNAME, bridge) {
				continue
			}
			if err := c.DelRule(r); err != nil {
				return err
			}
			n++
		}
	}
	if n == 0 {
		return nil
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: remove accept rules: %w", err)
	}
	return nil
}

func (f *Firewall) foreignTag() string { return tagPrefix + f.table.Name }

// foreignDropChains lists the forward base chains of other tables whose
// policy is drop.
func (f *Firewall) foreignDropChains(c *nftables.Conn) ([]*nftables.Chain, error) {
	all, err := c.ListChains()
	if err != nil {
		return nil, fmt.Errorf("nftables: list chains: %w", err)
	}
	var out []*nftables.Chain
	for _, ch := range all {
		if ch.Hooknum == nil || *ch.Hooknum != *nftables.ChainHookForward || ch.Policy == nil || *ch.Policy != nftables.ChainPolicyDrop {
			continue
		}
		if ch.Table.Name == f.table.Name && ch.Table.Family == f.table.Family {
			continue
		}
		if ch.Table.Family != nftables.TableFamilyIPv4 && ch.Table.Family != nftables.TableFamilyINet {
			continue
		}
		out = append(out, ch)
	}
	return out, nil
}

func hasAccept(rules []*nftables.Rule, key expr.MetaKey, name string) bool {
	for _, r := range rules {
		if matchesIfname(r, key, name) && acceptVerdict(r) {
			return true
		}
	}
	return false
}

// matchesIfname reports whether r is "meta KEY == name" and nothing else
// before its verdict (counters aside).
func matchesIfname(r *nftables.Rule, key expr.MetaKey, name string) bool {
	var meta *expr.Meta
	var cmp *expr.Cmp
	for _, e := range r.Exprs {
		switch e := e.(type) {
		case *expr.Meta:
			if meta != nil {
				return false
			}
			meta = e
		case *expr.Cmp:
			if cmp != nil {
				return false
			}
			cmp = e
		case *expr.Counter, *expr.Verdict:
		default:
			return false
		}
	}
	return meta != nil && cmp != nil && meta.Key == key && cmp.Op == expr.CmpOpEq &&
		bytes.Equal(bytes.TrimRight(cmp.Data, "\x00"), []byte(name)) && len(cmp.Data) > len(name)
}

func acceptVerdict(r *nftables.Rule) bool {
	for _, e := range r.Exprs {
		if v, ok := e.(*expr.Verdict); ok && v.Kind == expr.VerdictAccept {
			return true
		}
	}
	return false
}
