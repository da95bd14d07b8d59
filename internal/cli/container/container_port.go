package container

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-project/berth/internal/cli/command"
)

func newPortCommand(cli *command.CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "port CONTAINER [PRIVATE_PORT[/PROTO]]",
		Short: "List port mappings or a specific mapping for the container",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cli.Client(cmd.Context())
			if err != nil {
				return err
			}
			res, err := c.ContainerInspect(cmd.Context(), args[0], client.ContainerInspectOptions{})
			if err != nil {
				return err
			}
			var ports network.PortMap
			if ns := res.Container.NetworkSettings; ns != nil {
				ports = ns.Ports
			}
			addr := func(b network.PortBinding) string {
				ip := "0.0.0.0"
				if b.HostIP.IsValid() {
					ip = b.HostIP.String()
				}
				return net.JoinHostPort(ip, b.HostPort)
			}
			if len(args) == 2 {
				want := args[1]
				if !strings.Contains(want, "/") {
					want += "/tcp"
				}
				p, err := network.ParsePort(want)
				if err != nil {
					return command.StatusError{Status: fmt.Sprintf("Error: invalid port (%s): %v", args[1], err), StatusCode: 1}
				}
				bs := ports[p]
				if len(bs) == 0 {
					return command.StatusError{Status: fmt.Sprintf("Error: No public port '%s' published for %s", p, args[0]), StatusCode: 1}
				}
				for _, b := range bs {
					fmt.Fprintln(cli.Out, addr(b))
				}
				return nil
			}
			var lines []string
			for p, bs := range ports {
				for _, b := range bs {
					lines = append(lines, fmt.Sprintf("%s -> %s", p, addr(b)))
				}
			}
			sort.Strings(lines)
			for _, l := range lines {
				fmt.Fprintln(cli.Out, l)
			}
			return nil
		},
	}
}

// portsColumn renders ps's PORTS column as docker does:
// "0.0.0.0:8080->80/tcp, 0.0.0.0:9000-9001->90-91/tcp, 53/udp", with
// consecutive ports merged into ranges.
func portsColumn(ports []container.PortSummary) string {
	ps := append([]container.PortSummary(nil), ports...)
	sort.Slice(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		if a.IP != b.IP {
			return a.IP.Less(b.IP)
		}
		return a.PrivatePort < b.PrivatePort
	})
	var out []string
	for i := 0; i < len(ps); {
		j := i
		for j+1 < len(ps) && ps[j+1].Type == ps[i].Type && ps[j+1].IP == ps[i].IP &&
			ps[j+1].PrivatePort == ps[j].PrivatePort+1 &&
			(ps[i].PublicPort == 0) == (ps[j+1].PublicPort == 0) &&
			(ps[i].PublicPort == 0 || ps[j+1].PublicPort == ps[j].PublicPort+1) {
			j++
		}
		span := func(a, b uint16) string {
			if a == b {
				return strconv.Itoa(int(a))
			}
			return fmt.Sprintf("%d-%d", a, b)
		}
		priv := span(ps[i].PrivatePort, ps[j].PrivatePort) + "/" + ps[i].Type
		if ps[i].PublicPort == 0 {
			out = append(out, priv)
		} else {
			out = append(out, net.JoinHostPort(ps[i].IP.String(), span(ps[i].PublicPort, ps[j].PublicPort))+"->"+priv)
		}
		i = j + 1
	}
	return strings.Join(out, ", ")
}
