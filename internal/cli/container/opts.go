package container

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"strconv"
	"strings"
	"time"

	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/spf13/pflag"

	"github.com/berth-project/berth/internal/cli/command"
)

// createOptions are the flags of run and create.
type createOptions struct {
	name, workdir, user, hostname, restart, runtime, stopSignal      string
	ipc, pid, logDriver, memory, memorySwap, memoryReservation, cpus string
	cpusetCpus, shmSize                                              string
	entrypoint                                                       *string
	env, envFile, labels, volumes, mounts, tmpfs, capAdd, capDrop    []string
	securityOpt, ulimits, sysctls, logOpts, extraHosts               []string
	interactive, tty, rm, readOnly, privileged, init                 bool
	pidsLimit                                                        int64
	cpuShares                                                        int64
	stopTimeout                                                      int
	healthCmd                                                        string
	healthInterval, healthTimeout, healthStartPeriod, healthStartInt time.Duration
	healthRetries                                                    int
	noHealthcheck                                                    bool
	devices, volumesFrom                                             []string
	net                                                              networkOptions
	pull                                                             pullOptions
	flags                                                            *pflag.FlagSet
}

func addCreateFlags(fs *pflag.FlagSet, o *createOptions) {
	o.flags = fs
	fs.SetInterspersed(false)
	fs.StringVar(&o.name, "name", "", "Assign a name to the container")
	fs.StringVarP(&o.workdir, "workdir", "w", "", "Working directory inside the container")
	fs.StringVarP(&o.user, "user", "u", "", "Username or UID (format: <name|uid>[:<group|gid>])")
	fs.Bool("help", false, "Print usage")
	fs.StringVarP(&o.hostname, "hostname", "h", "", "Container host name")
	addNetworkFlags(fs, &o.net)
	addPullFlags(fs, &o.pull)
	fs.StringVar(&o.restart, "restart", "no", "Restart policy to apply when a container exits")
	fs.StringVar(&o.runtime, "runtime", "", "Runtime to use for this container")
	fs.StringVar(&o.stopSignal, "stop-signal", "", "Signal to stop the container")
	fs.IntVar(&o.stopTimeout, "stop-timeout", 0, "Timeout (in seconds) to stop a container")
	fs.StringVar(&o.ipc, "ipc", "", "IPC mode to use")
	fs.StringVar(&o.pid, "pid", "", "PID namespace to use")
	fs.StringVar(&o.logDriver, "log-driver", "", "Logging driver for the container")
	fs.StringArrayVar(&o.logOpts, "log-opt", nil, "Log driver options")
	fs.StringVarP(&o.memory, "memory", "m", "", "Memory limit")
	fs.StringVar(&o.memorySwap, "memory-swap", "", "Swap limit equal to memory plus swap: '-1' to enable unlimited swap")
	fs.StringVar(&o.memoryReservation, "memory-reservation", "", "Memory soft limit")
	fs.StringVar(&o.cpus, "cpus", "", "Number of CPUs")
	fs.Int64VarP(&o.cpuShares, "cpu-shares", "c", 0, "CPU shares (relative weight)")
	fs.StringVar(&o.cpusetCpus, "cpuset-cpus", "", "CPUs in which to allow execution (0-3, 0,1)")
	fs.Int64Var(&o.pidsLimit, "pids-limit", 0, "Tune container pids limit (set -1 for unlimited)")
	fs.StringVar(&o.shmSize, "shm-size", "", "Size of /dev/shm")
	o.entrypoint = new(string)
	fs.StringVar(o.entrypoint, "entrypoint", "", "Overwrite the default ENTRYPOINT of the image")
	fs.StringArrayVarP(&o.env, "env", "e", nil, "Set environment variables")
	fs.StringArrayVar(&o.envFile, "env-file", nil, "Read in a file of environment variables")
	fs.StringArrayVarP(&o.labels, "label", "l", nil, "Set meta data on a container")
	fs.StringArrayVarP(&o.volumes, "volume", "v", nil, "Bind mount a volume")
	fs.StringArrayVar(&o.mounts, "mount", nil, "Attach a filesystem mount to the container")
	fs.StringArrayVar(&o.tmpfs, "tmpfs", nil, "Mount a tmpfs directory")
	fs.StringArrayVar(&o.capAdd, "cap-add", nil, "Add Linux capabilities")
	fs.StringArrayVar(&o.capDrop, "cap-drop", nil, "Drop Linux capabilities")
	fs.StringArrayVar(&o.securityOpt, "security-opt", nil, "Security Options")
	fs.StringArrayVar(&o.ulimits, "ulimit", nil, "Ulimit options")
	fs.StringArrayVar(&o.sysctls, "sysctl", nil, "Sysctl options")
	fs.StringArrayVar(&o.extraHosts, "add-host", nil, "Add a custom host-to-IP mapping (host:ip)")
	fs.BoolVarP(&o.interactive, "interactive", "i", false, "Keep STDIN open even if not attached")
	fs.BoolVarP(&o.tty, "tty", "t", false, "Allocate a pseudo-TTY")
	fs.BoolVar(&o.rm, "rm", false, "Automatically remove the container when it exits")
	fs.BoolVar(&o.readOnly, "read-only", false, "Mount the container's root filesystem as read only")
	fs.BoolVar(&o.privileged, "privileged", false, "Give extended privileges to this container")
	fs.BoolVar(&o.init, "init", false, "Run an init inside the container (not supported yet)")
	fs.StringVar(&o.healthCmd, "health-cmd", "", "Command to run to check health")
	fs.DurationVar(&o.healthInterval, "health-interval", 0, "Time between running the check (ms|s|m|h) (default 0s)")
	fs.DurationVar(&o.healthTimeout, "health-timeout", 0, "Maximum time to allow one check to run (ms|s|m|h) (default 0s)")
	fs.DurationVar(&o.healthStartPeriod, "health-start-period", 0, "Start period for the container to initialize before starting health-retries countdown")
	fs.DurationVar(&o.healthStartInt, "health-start-interval", 0, "Time between running the check during the start period")
	fs.IntVar(&o.healthRetries, "health-retries", 0, "Consecutive failures needed to report unhealthy")
	fs.BoolVar(&o.noHealthcheck, "no-healthcheck", false, "Disable any container-specified HEALTHCHECK")
	fs.StringArrayVar(&o.devices, "device", nil, "Add a host device to the container")
	fs.StringArrayVar(&o.volumesFrom, "volumes-from", nil, "Mount volumes from the specified container(s)")
}

// invalid is a flag error: exit status 125 like docker.
func invalid(format string, a ...any) error {
	return statusErr(125, fmt.Sprintf(format, a...))
}

// toConfig turns the flags into the create request.
func (o *createOptions) toConfig(image string, args []string) (*container.Config, *container.HostConfig, error) {
	env, err := o.environment()
	if err != nil {
		return nil, nil, err
	}
	labels := command.KeyValues(o.labels)
	cfg := &container.Config{
		Image:        image,
		Cmd:          args,
		Env:          env,
		WorkingDir:   o.workdir,
		User:         o.user,
		Hostname:     o.hostname,
		Tty:          o.tty,
		OpenStdin:    o.interactive,
		AttachStdin:  o.interactive,
		AttachStdout: true,
		AttachStderr: true,
		Labels:       labels,
		StopSignal:   o.stopSignal,
	}
	if o.interactive {
		cfg.StdinOnce = true
	}
	if o.flags.Changed("entrypoint") {
		if *o.entrypoint == "" {
			cfg.Entrypoint = []string{}
		} else {
			cfg.Entrypoint = []string{*o.entrypoint}
		}
	}
	if o.noHealthcheck {
		cfg.Healthcheck = &container.HealthConfig{Test: []string{"NONE"}}
	} else if o.healthCmd != "" || o.healthInterval != 0 || o.healthTimeout != 0 || o.healthRetries != 0 || o.healthStartPeriod != 0 || o.healthStartInt != 0 {
		hc := &container.HealthConfig{Interval: o.healthInterval, Timeout: o.healthTimeout, StartPeriod: o.healthStartPeriod, StartInterval: o.healthStartInt, Retries: o.healthRetries}
		if o.healthCmd != "" {
			hc.Test = []string{"CMD-SHELL", o.healthCmd}
		}
		cfg.Healthcheck = hc
	}
	if o.flags.Changed("stop-timeout") {
		t := o.stopTimeout
		cfg.StopTimeout = &t
	}
	hc := &container.HostConfig{
		AutoRemove:     o.rm,
		ReadonlyRootfs: o.readOnly,
		Privileged:     o.privileged,
		CapAdd:         o.capAdd,
		CapDrop:        o.capDrop,
		SecurityOpt:    o.securityOpt,
		Runtime:        o.runtime,
		IpcMode:        container.IpcMode(o.ipc),
		PidMode:        container.PidMode(o.pid),
		ExtraHosts:     o.extraHosts,
		VolumesFrom:    o.volumesFrom,
	}
	if o.flags.Changed("init") {
		hc.Init = &o.init
	}
	for _, d := range o.devices {
		dm, err := parseDevice(d)
		if err != nil {
			return nil, nil, invalid("invalid argument %q for \"--device\" flag: %v", d, err)
		}
		hc.Devices = append(hc.Devices, dm)
	}
	if hc.RestartPolicy, err = parseRestart(o.restart); err != nil {
		return nil, nil, err
	}
	if o.rm && !hc.RestartPolicy.IsNone() {
		return nil, nil, invalid("conflicting options: cannot specify both --restart and --rm")
	}
	if hc.SecurityOpt, err = parseSecurityOpts(o.securityOpt); err != nil {
		return nil, nil, err
	}
	hc.LogConfig.Type = o.logDriver
	if len(o.logOpts) > 0 {
		hc.LogConfig.Config = map[string]string{}
		for _, lo := range o.logOpts {
			k, v, ok := strings.Cut(lo, "=")
			if !ok {
				return nil, nil, invalid("invalid log opt %q: want key=value", lo)
			}
			hc.LogConfig.Config[k] = v
		}
	}
	for _, v := range o.volumes {
		parts := strings.Split(v, ":")
		if len(parts) == 1 {
			if cfg.Volumes == nil {
				cfg.Volumes = map[string]struct{}{}
			}
			cfg.Volumes[v] = struct{}{}
			continue
		}
		hc.Binds = append(hc.Binds, v)
	}
	for _, m := range o.mounts {
		mt, err := parseMount(m)
		if err != nil {
			return nil, nil, err
		}
		hc.Mounts = append(hc.Mounts, mt)
	}
	if len(o.tmpfs) > 0 {
		hc.Tmpfs = map[string]string{}
		for _, t := range o.tmpfs {
			dst, opts, _ := strings.Cut(t, ":")
			hc.Tmpfs[dst] = opts
		}
	}
	if len(o.sysctls) > 0 {
		hc.Sysctls = map[string]string{}
		for _, s := range o.sysctls {
			k, v, ok := strings.Cut(s, "=")
			if !ok {
				return nil, nil, invalid("invalid sysctl %q", s)
			}
			hc.Sysctls[k] = v
		}
	}
	for _, u := range o.ulimits {
		ul, err := units.ParseUlimit(u)
		if err != nil {
			return nil, nil, invalid("invalid argument %q for \"--ulimit\" flag: %v", u, err)
		}
		hc.Ulimits = append(hc.Ulimits, ul)
	}
	if err := o.resources(&hc.Resources); err != nil {
		return nil, nil, err
	}
	if o.shmSize != "" {
		n, err := units.RAMInBytes(o.shmSize)
		if err != nil {
			return nil, nil, invalid("invalid argument %q for \"--shm-size\" flag: %v", o.shmSize, err)
		}
		hc.ShmSize = n
	}
	return cfg, hc, nil
}

func (o *createOptions) resources(r *container.Resources) error {
	size := func(flag, v string) (int64, error) {
		if v == "" {
			return 0, nil
		}
		if v == "-1" {
			return -1, nil
		}
		n, err := units.RAMInBytes(v)
		if err != nil {
			return 0, invalid("invalid argument %q for \"%s\" flag: %v", v, flag, err)
		}
		return n, nil
	}
	var err error
	if r.Memory, err = size("-m, --memory", o.memory); err != nil {
		return err
	}
	if r.MemorySwap, err = size("--memory-swap", o.memorySwap); err != nil {
		return err
	}
	if r.MemoryReservation, err = size("--memory-reservation", o.memoryReservation); err != nil {
		return err
	}
	if o.cpus != "" {
		rat, ok := new(big.Rat).SetString(o.cpus)
		if !ok {
			return invalid("invalid argument %q for \"--cpus\" flag: failed to parse %s as a rational number", o.cpus, o.cpus)
		}
		nano := rat.Mul(rat, big.NewRat(1e9, 1))
		if !nano.IsInt() {
			return invalid("invalid argument %q for \"--cpus\" flag: value is too precise", o.cpus)
		}
		r.NanoCPUs = nano.Num().Int64()
	}
	r.CPUShares = o.cpuShares
	r.CpusetCpus = o.cpusetCpus
	if o.flags.Changed("pids-limit") {
		p := o.pidsLimit
		r.PidsLimit = &p
	}
	return nil
}

func (o *createOptions) environment() ([]string, error) {
	var env []string
	for _, f := range o.envFile {
		fh, err := os.Open(f)
		if err != nil {
			return nil, invalid("open %s: %v", f, err)
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			env = append(env, expandEnv(line))
		}
		fh.Close()
	}
	for _, e := range o.env {
		env = append(env, expandEnv(e))
	}
	return env, nil
}

// expandEnv turns "KEY" into "KEY=<value from our environment>".
func expandEnv(e string) string {
	if strings.Contains(e, "=") {
		return e
	}
	if v, ok := os.LookupEnv(e); ok {
		return e + "=" + v
	}
	return e
}

func parseRestart(s string) (container.RestartPolicy, error) {
	var p container.RestartPolicy
	if s == "" {
		return p, nil
	}
	name, count, hasCount := strings.Cut(s, ":")
	p.Name = container.RestartPolicyMode(name)
	if hasCount {
		n, err := strconv.Atoi(count)
		if err != nil {
			return p, invalid("invalid restart policy format: maximum retry count must be an integer")
		}
		p.MaximumRetryCount = n
	}
	return p, nil
}

// parseMount parses --mount type=bind,source=/a,target=/b,readonly.
func parseMount(s string) (mount.Mount, error) {
	m := mount.Mount{Type: mount.TypeVolume}
	for _, field := range strings.Split(s, ",") {
		k, v, hasV := strings.Cut(field, "=")
		switch strings.ToLower(k) {
		case "type":
			m.Type = mount.Type(v)
		case "source", "src":
			m.Source = v
		case "target", "destination", "dst":
			m.Target = v
		case "readonly", "ro":
			m.ReadOnly = !hasV || v == "true" || v == "1"
		case "bind-propagation":
			if m.BindOptions == nil {
				m.BindOptions = &mount.BindOptions{}
			}
			m.BindOptions.Propagation = mount.Propagation(v)
		case "tmpfs-size":
			n, err := units.RAMInBytes(v)
			if err != nil {
				return m, invalid("invalid tmpfs-size %q", v)
			}
			if m.TmpfsOptions == nil {
				m.TmpfsOptions = &mount.TmpfsOptions{}
			}
			m.TmpfsOptions.SizeBytes = n
		case "tmpfs-mode":
			n, err := strconv.ParseUint(v, 8, 32)
			if err != nil {
				return m, invalid("invalid tmpfs-mode %q", v)
			}
			if m.TmpfsOptions == nil {
				m.TmpfsOptions = &mount.TmpfsOptions{}
			}
			m.TmpfsOptions.Mode = os.FileMode(n)
		case "volume-nocopy":
		default:
			return m, invalid("invalid field '%s' must be a key=value pair", k)
		}
	}
	if m.Target == "" {
		return m, invalid("invalid argument %q for \"--mount\" flag: target is required", s)
	}
	return m, nil
}

// parseDevice parses --device HOST[:CONTAINER[:PERMS]].
func parseDevice(v string) (container.DeviceMapping, error) {
	var d container.DeviceMapping
	parts := strings.SplitN(v, ":", 3)
	d.PathOnHost = parts[0]
	if len(parts) > 1 {
		if isPerms(parts[1]) && len(parts) == 2 {
			d.CgroupPermissions = parts[1]
		} else {
			d.PathInContainer = parts[1]
		}
	}
	if len(parts) > 2 {
		d.CgroupPermissions = parts[2]
	}
	if d.PathOnHost == "" || (d.CgroupPermissions != "" && !isPerms(d.CgroupPermissions)) {
		return d, fmt.Errorf("invalid device specification: %s", v)
	}
	return d, nil
}

func isPerms(p string) bool {
	if p == "" || len(p) > 3 {
		return false
	}
	for _, c := range p {
		if c != 'r' && c != 'w' && c != 'm' {
			return false
		}
	}
	return true
}

// parseSecurityOpts checks the form of --security-opt (key=value,
// key:value or no-new-privileges; the daemon checks the rest) and, as
// docker's CLI does, reads a seccomp=FILE profile and sends its JSON.
func parseSecurityOpts(opts []string) ([]string, error) {
	out := make([]string, 0, len(opts))
	for _, so := range opts {
		k, v, ok := strings.Cut(so, "=")
		if !ok && so != "no-new-privileges" {
			if !strings.Contains(so, ":") {
				return nil, invalid("Invalid --security-opt: %q", so)
			}
			k, v, _ = strings.Cut(so, ":")
		}
		if k == "seccomp" && v != "unconfined" && v != "builtin" {
			b, err := os.ReadFile(v)
			if err != nil {
				return nil, invalid("opening seccomp profile (%s) failed: %v", v, err)
			}
			var buf bytes.Buffer
			if err := json.Compact(&buf, b); err != nil {
				return nil, invalid("compacting json for seccomp profile (%s) failed: %v", v, err)
			}
			so = "seccomp=" + buf.String()
		}
		out = append(out, so)
	}
	return out, nil
}
