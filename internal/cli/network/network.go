// Package network holds `berth network create|ls|inspect|rm|connect|
// disconnect|prune`, with docker's flags and output.
package network

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	apinet "github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-project/berth/internal/cli/command"
	"github.com/berth-project/berth/internal/cli/format"
)

// NewCommand returns `berth network`.
func NewCommand(cli *command.CLI) *cobra.Command {
	cmd := &cobra.Command{Use: "network", Short: "Manage networks", Args: cobra.NoArgs}
	cmd.AddCommand(newCreate(cli), newList(cli), newInspect(cli), newRemove(cli),
		newConnect(cli), newDisconnect(cli), newPrune(cli))
	return cmd
}

func usageErr(format string, a ...any) error {
	return command.StatusError{Status: fmt.Sprintf(format, a...), StatusCode: 125}
}

func newCreate(cli *command.CLI) *cobra.Command {
	var driver, ipamDriver, scope string
	var subnets, gateways, ranges, labels, opts, aux []string
	var internal, ipv6, attachable bool
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] NETWORK",
		Short: "Create a network",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ipam, err := ipamConfig(subnets, gateways, ranges)
			if err != nil {
				return err
			}
			if len(aux) > 0 {
				return usageErr("--aux-address is not supported by berth")
			}
			c, err := cli.Client(cmd.Context())
			if err != nil {
				return err
			}
			o := client.NetworkCreateOptions{
				Driver: driver, Scope: scope, Internal: internal, Attachable: attachable,
				IPAM:    &apinet.IPAM{Driver: ipamDriver, Config: ipam, Options: map[string]string{}},
				Options: command.KeyValues(opts), Labels: command.KeyValues(labels),
			}
			if cmd.Flags().Changed("ipv6") {
				o.EnableIPv6 = &ipv6
			}
			res, err := c.NetworkCreate(cmd.Context(), args[0], o)
			if err != nil {
				return err
			}
			fmt.Fprintln(cli.Out, res.ID)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&driver, "driver", "d", "bridge", "Driver to manage the Network")
	f.StringVar(&ipamDriver, "ipam-driver", "default", "IP Address Management Driver")
	f.StringVar(&scope, "scope", "", "Control the network's scope")
	f.StringArrayVar(&subnets, "subnet", nil, "Subnet in CIDR format that represents a network segment")
	f.StringArrayVar(&gateways, "gateway", nil, "IPv4 or IPv6 Gateway for the master subnet")
	f.StringArrayVar(&ranges, "ip-range", nil, "Allocate container ip from a sub-range")
	f.StringArrayVar(&aux, "aux-address", nil, "Auxiliary IPv4 or IPv6 addresses used by Network driver")
	f.StringArrayVar(&labels, "label", nil, "Set metadata on a network")
	f.StringArrayVarP(&opts, "opt", "o", nil, "Set driver specific options")
	f.BoolVar(&internal, "internal", false, "Restrict external access to the network")
	f.BoolVar(&ipv6, "ipv6", false, "Enable or disable IPv6 networking")
	f.BoolVar(&attachable, "attachable", false, "Enable manual container attachment")
	return cmd
}

// ipamConfig pairs --subnet with --gateway and --ip-range as docker does:
// each gateway and range belongs to the subnet that contains it.
func ipamConfig(subnets, gateways, ranges []string) ([]apinet.IPAMConfig, error) {
	if len(subnets) == 0 && (len(gateways) > 0 || len(ranges) > 0) {
		return nil, usageErr("every ip-range or gateway must have a corresponding subnet")
	}
	var out []apinet.IPAMConfig
	for _, s := range subnets {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, usageErr("invalid subnet %s: invalid CIDR address: %s", s, s)
		}
		out = append(out, apinet.IPAMConfig{Subnet: p})
	}
	for _, g := range gateways {
		a, err := netip.ParseAddr(g)
		if err != nil {
			return nil, usageErr("invalid gateway %s: invalid IP address", g)
		}
		found := false
		for i := range out {
			if out[i].Subnet.Contains(a) {
				if out[i].Gateway.IsValid() {
					return nil, usageErr("cannot configure multiple gateways (%s, %s) for the same subnet (%s)", out[i].Gateway, a, out[i].Subnet)
				}
				out[i].Gateway, found = a, true
				break
			}
		}
		if !found {
			return nil, usageErr("no matching subnet for gateway %s", g)
		}
	}
	for _, r := range ranges {
		p, err := netip.ParsePrefix(r)
		if err != nil {
			return nil, usageErr("invalid ip-range %s: invalid CIDR address: %s", r, r)
		}
		found := false
		for i := range out {
			if out[i].Subnet.Contains(p.Addr()) && out[i].Subnet.Bits() <= p.Bits() {
				if out[i].IPRange.IsValid() {
					return nil, usageErr("cannot configure multiple ranges (%s, %s) on the same subnet (%s)", out[i].IPRange, p, out[i].Subnet)
				}
				out[i].IPRange, found = p, true
				break
			}
		}
		if !found {
			return nil, usageErr("no matching subnet for range %s", r)
		}
	}
	return out, nil
}

// row is one line of `network ls`.
type row struct {
	ID, Name, Driver, Scope, CreatedAt, Labels string
	IPv4, IPv6, Internal                       bool
}

func newList(cli *command.CLI) *cobra.Command {
	var quiet, noTrunc bool
	var filters []string
	var fmtStr string
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List networks",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cli.Client(cmd.Context())
			if err != nil {
				return err
			}
			res, err := c.NetworkList(cmd.Context(), client.NetworkListOptions{Filters: command.Filters(filters)})
			if err != nil {
				return err
			}
			sort.Slice(res.Items, func(i, j int) bool { return res.Items[i].Name < res.Items[j].Name })
			items := make([]any, 0, len(res.Items))
			for _, n := range res.Items {
				id := n.ID
				if !noTrunc && len(id) > 12 {
					id = id[:12]
				}
				if quiet {
					fmt.Fprintln(cli.Out, id)
					continue
				}
				var labels []string
				for k, v := range n.Labels {
					labels = append(labels, k+"="+v)
				}
				sort.Strings(labels)
				items = append(items, row{ID: id, Name: n.Name, Driver: n.Driver, Scope: n.Scope, IPv4: n.EnableIPv4, IPv6: n.EnableIPv6,
					Internal: n.Internal, CreatedAt: n.Created.String(), Labels: strings.Join(labels, ",")})
			}
			if quiet {
				return nil
			}
			if fmtStr == "" {
				fmtStr = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"
			}
			if format.IsTable(fmtStr) {
				return format.Table(cli.Out, fmtStr, map[string]string{"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE",
					"IPv4": "IPV4", "IPv6": "IPV6", "Internal": "INTERNAL", "CreatedAt": "CREATED AT", "Labels": "LABELS"}, items)
			}
			return format.Each(cli.Out, fmtStr, items)
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only display network IDs")
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "Do not truncate the output")
	cmd.Flags().StringArrayVarP(&filters, "filter", "f", nil, "Provide filter values (e.g. \"driver=bridge\")")
	cmd.Flags().StringVar(&fmtStr, "format", "", "Format output using a custom template")
	return cmd
}

func newInspect(cli *command.CLI) *cobra.Command {
	var fmtStr string
	var verbose bool
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] NETWORK [NETWORK...]",
		Short: "Display detailed information on one or more networks",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cli.Client(cmd.Context())
			if err != nil {
				return err
			}
			return cli.Inspect(fmtStr, args, func(n string) (json.RawMessage, error) {
				res, err := c.NetworkInspect(cmd.Context(), n, client.NetworkInspectOptions{Verbose: verbose})
				return res.Raw, err
			})
		},
	}
	cmd.Flags().StringVarP(&fmtStr, "format", "f", "", "Format output using a custom template")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "Verbose output for diagnostics")
	return cmd
}

func newRemove(cli *command.CLI) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "rm NETWORK [NETWORK...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more networks",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cli.Client(cmd.Context())
			if err != nil {
				return err
			}
			var errs []string
			for _, n := range args {
				if _, err := c.NetworkRemove(cmd.Context(), n, client.NetworkRemoveOptions{}); err != nil {
					if force && command.IsNotFound(err) {
						continue
					}
					errs = append(errs, err.Error())
					continue
				}
				fmt.Fprintln(cli.Out, n)
			}
			return command.JoinErrors(errs)
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not error if the network does not exist")
	return cmd
}

func newConnect(cli *command.CLI) *cobra.Command {
	var aliases, links, driverOpts []string
	var ip, ip6 string
	cmd := &cobra.Command{
		Use:   "connect [OPTIONS] NETWORK CONTAINER",
		Short: "Connect a container to a network",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			es := &apinet.EndpointSettings{Aliases: aliases, Links: links, DriverOpts: command.KeyValues(driverOpts)}
			if ip != "" || ip6 != "" {
				es.IPAMConfig = &apinet.EndpointIPAMConfig{}
				if ip != "" {
					a, err := netip.ParseAddr(ip)
					if err != nil {
						return usageErr("invalid argument %q for \"--ip\" flag: invalid IP address", ip)
					}
					es.IPAMConfig.IPv4Address = a
				}
				if ip6 != "" {
					a, err := netip.ParseAddr(ip6)
					if err != nil {
						return usageErr("invalid argument %q for \"--ip6\" flag: invalid IP address", ip6)
					}
					es.IPAMConfig.IPv6Address = a
				}
			}
			c, err := cli.Client(cmd.Context())
			if err != nil {
				return err
			}
			_, err = c.NetworkConnect(cmd.Context(), args[0], client.NetworkConnectOptions{Container: args[1], EndpointConfig: es})
			return err
		},
	}
	cmd.Flags().StringArrayVar(&aliases, "alias", nil, "Add network-scoped alias for the container")
	cmd.Flags().StringArrayVar(&links, "link", nil, "Add link to another container")
	cmd.Flags().StringArrayVar(&driverOpts, "driver-opt", nil, "driver options for the network")
	cmd.Flags().StringVar(&ip, "ip", "", "IPv4 address (e.g., \"172.30.100.104\")")
	cmd.Flags().StringVar(&ip6, "ip6", "", "IPv6 address (e.g., \"2001:db8::33\")")
	return cmd
}

func newDisconnect(cli *command.CLI) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "disconnect [OPTIONS] NETWORK CONTAINER",
		Short: "Disconnect a container from a network",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cli.Client(cmd.Context())
			if err != nil {
				return err
			}
			_, err = c.NetworkDisconnect(cmd.Context(), args[0], client.NetworkDisconnectOptions{Container: args[1], Force: force})
			return err
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Force the container to disconnect from a network")
	return cmd
}

func newPrune(cli *command.CLI) *cobra.Command {
	var force bool
	var filters []string
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove all unused networks",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !force && !cli.Confirm("WARNING! This will remove all custom networks not used by at least one container.") {
				return nil
			}
			c, err := cli.Client(cmd.Context())
			if err != nil {
				return err
			}
			res, err := c.NetworkPrune(cmd.Context(), client.NetworkPruneOptions{Filters: command.Filters(filters)})
			if err != nil {
				return err
			}
			if len(res.Report.NetworksDeleted) > 0 {
				fmt.Fprintln(cli.Out, "Deleted Networks:")
				for _, n := range res.Report.NetworksDeleted {
					fmt.Fprintln(cli.Out, n)
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	cmd.Flags().StringArrayVar(&filters, "filter", nil, "Provide filter values (e.g. \"until=<timestamp>\")")
	return cmd
}
