package containers

import (
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	crec "github.com/berth-project/berth/internal/container"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/initproc"
	"github.com/berth-project/berth/internal/oci"
	"github.com/berth-project/berth/internal/runtime/seccomp"
)

// buildSpec makes the OCI spec of c whose root filesystem is at rootfs.
func (s *Service) buildSpec(c *crec.Container, rootfs, netns string) (*specs.Spec, error) {
	cfg, hc := c.Config, c.HostConfig
	hostname := cfg.Hostname
	if hostname == "" {
		hostname = c.ID[:12]
	}
	var etc []specs.Mount
	if s.cfg.Network == nil {
		var err error
		if etc, err = writeEtcFiles(c, hostname); err != nil {
			return nil, err
		}
	} else {
		etc = etcMounts(c.Dir)
	}
	args := append([]string{c.Path}, c.Args...)
	if hc.Init != nil && *hc.Init {
		// As Docker does with tini: berth-init is the container's pid 1.
		args = append([]string{initproc.ContainerPath, "--"}, args...)
		etc = append(etc, specs.Mount{Destination: initproc.ContainerPath, Type: "bind", Source: s.cfg.InitPath, Options: []string{"bind", "ro"}})
	}
	opts := []oci.SpecOpt{
		oci.WithRootfs(rootfs, hc.ReadonlyRootfs),
		oci.WithArgs(args...),
		oci.WithEnv(cfg.Env),
		oci.WithCwd(cfg.WorkingDir),
		oci.WithHostname(hostname),
		oci.WithTTY(cfg.Tty),
		oci.WithNetworkMode(hc.NetworkMode),
		oci.WithNetNS(netns),
		oci.WithIPCMode(hc.IpcMode),
		oci.WithPIDMode(hc.PidMode),
		oci.WithUser(rootfs, cfg.User),
		oci.WithCapabilities(hc.CapAdd, hc.CapDrop),
		oci.WithPrivileged(hc.Privileged),
		oci.WithResources(hc.Resources),
		oci.WithUlimits(hc.Ulimits),
		oci.WithSysctls(hc.Sysctls),
		oci.WithShmSize(hc.ShmSize),
		oci.WithCgroupsPath(path.Join(s.cgroupParent(), c.ID)),
		oci.WithMounts(etc),
		oci.WithMounts(specMounts(c)),
		oci.WithTmpfs(hc.Tmpfs),
		oci.WithDevices(hc.Devices),
	}
	sec, err := parseSecurityOpts(hc.SecurityOpt)
	if err != nil {
		return nil, err
	}
	if sec.noNewPrivileges {
		opts = append(opts, oci.WithNoNewPrivileges(true))
	}
	spec, err := oci.New(opts...)
	if err != nil {
		return nil, err
	}
	if err := applySeccomp(spec, sec.seccomp, hc.Privileged); err != nil {
		return nil, err
	}
	if cfg.WorkingDir != "" {
		if err := ensureDir(rootfs, cfg.WorkingDir, spec.Process.User); err != nil {
			return nil, err
		}
	}
	return spec, nil
}

type securityOpts struct {
	noNewPrivileges bool
	seccomp         string // "default", "unconfined" or a JSON profile
}

// parseSecurityOpts reads --security-opt values: no-new-privileges[:true],
// seccomp=unconfined|<profile JSON>; label and apparmor are accepted and
// ignored (no LSM in this kernel).
func parseSecurityOpts(list []string) (securityOpts, error) {
	out := securityOpts{seccomp: "default"}
	for _, so := range list {
		k, v, ok := strings.Cut(so, "=")
		if !ok {
			k, v, _ = strings.Cut(so, ":")
		}
		switch k {
		case "no-new-privileges":
			switch v {
			case "", "true":
				out.noNewPrivileges = true
			case "false":
			default:
				return out, errdefs.InvalidArgumentf("invalid --security-opt: %q", so)
			}
		case "seccomp":
			if v == "" {
				return out, errdefs.InvalidArgumentf("invalid --security-opt: %q", so)
			}
			if v != "unconfined" && v != "default" && v != "builtin" && !json.Valid([]byte(v)) {
				return out, errdefs.InvalidArgumentf("decoding seccomp profile failed: not a JSON profile")
			}
			out.seccomp = v
		case "label", "apparmor":
		default:
			return out, errdefs.InvalidArgumentf("invalid --security-opt: %q", so)
		}
	}
	return out, nil
}

// applySeccomp installs Docker's default profile for the process's
// capabilities, none for "unconfined" or a privileged container, or the
// given JSON profile.
func applySeccomp(spec *specs.Spec, profile string, privileged bool) error {
	switch {
	case profile == "unconfined" || (privileged && profile == "default"):
		spec.Linux.Seccomp = nil
	case profile == "default" || profile == "builtin":
		spec.Linux.Seccomp = seccomp.DefaultProfile(spec.Process.Capabilities.Bounding)
	default:
		var p specs.LinuxSeccomp
		if err := json.Unmarshal([]byte(profile), &p); err != nil {
			return errdefs.InvalidArgumentf("decoding seccomp profile failed: %v", err)
		}
		spec.Linux.Seccomp = &p
	}
	return nil
}

// writeEtcFiles writes the container's /etc/hostname, /etc/hosts and
// /etc/resolv.conf into its directory and returns their bind mounts.
func writeEtcFiles(c *crec.Container, hostname string) ([]specs.Mount, error) {
	hosts := "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
	if c.HostConfig.NetworkMode.IsHost() {
		if b, err := os.ReadFile("/etc/hosts"); err == nil {
			hosts = string(b)
		}
		if h, err := os.Hostname(); err == nil {
			hostname = h
		}
	}
	resolv := ""
	if b, err := os.ReadFile("/etc/resolv.conf"); err == nil {
		resolv = string(b)
	}
	for _, h := range c.HostConfig.ExtraHosts {
		name, ip, ok := strings.Cut(h, ":")
		if ok {
			hosts += ip + "\t" + name + "\n"
		}
	}
	files := []struct{ name, content, dst string }{
		{"hostname", hostname + "\n", "/etc/hostname"},
		{"hosts", hosts, "/etc/hosts"},
		{"resolv.conf", resolv, "/etc/resolv.conf"},
	}
	for _, f := range files {
		p := filepath.Join(c.Dir, f.name)
		if err := os.WriteFile(p, []byte(f.content), 0o644); err != nil {
			return nil, fmt.Errorf("write %s: %w", f.name, err)
		}
	}
	return etcMounts(c.Dir), nil
}

// etcMounts bind-mounts the container's hostname, hosts and resolv.conf
// files from its directory.
func etcMounts(dir string) []specs.Mount {
	var mounts []specs.Mount
	for _, f := range []string{"hostname", "hosts", "resolv.conf"} {
		mounts = append(mounts, specs.Mount{Destination: "/etc/" + f, Type: "bind", Source: filepath.Join(dir, f), Options: []string{"rbind", "rprivate"}})
	}
	return mounts
}

// ensureDir creates dir inside rootfs (as Docker does for WORKDIR),
// owned by the process user when it creates it.
func ensureDir(rootfs, dir string, u specs.User) error {
	p, err := securejoin.SecureJoin(rootfs, dir)
	if err != nil {
		return fmt.Errorf("resolve workdir: %w", err)
	}
	if _, err := os.Stat(p); err == nil {
		return nil
	}
	if err := os.MkdirAll(p, 0o755); err != nil {
		return fmt.Errorf("create workdir %s: %w", dir, err)
	}
	return os.Chown(p, int(u.UID), int(u.GID))
}

func (s *Service) cgroupParent() string {
	if s.cfg.CgroupParent == "" {
		return "/berth"
	}
	return s.cfg.CgroupParent
}
