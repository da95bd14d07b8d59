package build

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"reflect"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	digest "github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/image"
)

// dispatch expands cmd's variables and runs its dispatcher.
func (s *stageState) dispatch(ctx context.Context, cmd instructions.Command) error {
	if ex, ok := cmd.(instructions.SupportsSingleWordExpansion); ok {
		if err := ex.Expand(s.expander()); err != nil {
			return errdefs.InvalidArgument(err)
		}
	}
	if ex, ok := cmd.(instructions.SupportsSingleWordExpansionRaw); ok {
		lexRaw := *s.lex
		lexRaw.RawQuotes = true
		lexRaw.RawEscapes = true
		env := s.expansionEnv()
		err := ex.ExpandRaw(func(w string) (string, error) {
			r, _, err := lexRaw.ProcessWord(w, envGetter(env))
			return r, err
		})
		if err != nil {
			return errdefs.InvalidArgument(err)
		}
	}
	switch c := cmd.(type) {
	case *instructions.EnvCommand:
		return s.dispatchEnv(ctx, c)
	case *instructions.MaintainerCommand:
		return s.dispatchMaintainer(ctx, c)
	case *instructions.LabelCommand:
		return s.dispatchLabel(ctx, c)
	case *instructions.AddCommand:
		return s.dispatchAdd(ctx, c)
	case *instructions.CopyCommand:
		return s.dispatchCopy(ctx, c)
	case *instructions.OnbuildCommand:
		return s.dispatchOnbuild(ctx, c)
	case *instructions.WorkdirCommand:
		return s.dispatchWorkdir(ctx, c)
	case *instructions.RunCommand:
		return s.dispatchRun(ctx, c)
	case *instructions.CmdCommand:
		return s.dispatchCmd(ctx, c)
	case *instructions.HealthCheckCommand:
		return s.dispatchHealthcheck(ctx, c)
	case *instructions.EntrypointCommand:
		return s.dispatchEntrypoint(ctx, c)
	case *instructions.ExposeCommand:
		return s.dispatchExpose(ctx, c)
	case *instructions.UserCommand:
		return s.dispatchUser(ctx, c)
	case *instructions.VolumeCommand:
		return s.dispatchVolume(ctx, c)
	case *instructions.StopSignalCommand:
		return s.dispatchStopSignal(ctx, c)
	case *instructions.ArgCommand:
		return s.dispatchArg(ctx, c)
	case *instructions.ShellCommand:
		return s.dispatchShell(ctx, c)
	}
	return errdefs.InvalidArgumentf("unsupported command type: %v", reflect.TypeOf(cmd))
}

type envGetter []string

func (e envGetter) Get(k string) (string, bool) { return envGet(e, k) }
func (e envGetter) Keys() []string {
	var out []string
	for _, kv := range e {
		k, _, _ := strings.Cut(kv, "=")
		out = append(out, k)
	}
	return out
}

// ENV k=v ...
func (s *stageState) dispatchEnv(ctx context.Context, c *instructions.EnvCommand) error {
	text := "ENV"
	for _, kv := range c.Env {
		text += " " + kv.String()
	}
	return s.run(ctx, step{text: text, apply: func(img *Image) {
		for _, kv := range c.Env {
			img.Config.Config.Env = envSet(img.Config.Config.Env, kv.Key, kv.Value)
		}
	}})
}

// MAINTAINER name
func (s *stageState) dispatchMaintainer(ctx context.Context, c *instructions.MaintainerCommand) error {
	return s.run(ctx, step{text: "MAINTAINER " + c.Maintainer, apply: func(img *Image) {
		img.Config.Author = c.Maintainer
	}})
}

// LABEL k=v ...
func (s *stageState) dispatchLabel(ctx context.Context, c *instructions.LabelCommand) error {
	text := "LABEL"
	for _, kv := range c.Labels {
		text += " " + kv.String()
	}
	return s.run(ctx, step{text: text, apply: func(img *Image) {
		if img.Config.Config.Labels == nil {
			img.Config.Config.Labels = map[string]string{}
		}
		for _, kv := range c.Labels {
			img.Config.Config.Labels[kv.Key] = kv.Value
		}
	}})
}

// ONBUILD instruction
func (s *stageState) dispatchOnbuild(ctx context.Context, c *instructions.OnbuildCommand) error {
	return s.run(ctx, step{text: "ONBUILD " + c.Expression, apply: func(img *Image) {
		img.Config.Config.OnBuild = append(img.Config.Config.OnBuild, c.Expression)
	}})
}

// WORKDIR path: relative paths extend the current one; the directory is
// made (owned by the current USER, as buildkit does) when missing.
func (s *stageState) dispatchWorkdir(ctx context.Context, c *instructions.WorkdirCommand) error {
	wd := c.Path
	if !path.IsAbs(wd) {
		cur := s.img.Config.Config.WorkingDir
		if cur == "" {
			cur = "/"
		}
		wd = path.Join(cur, wd)
	}
	wd = path.Clean(wd)
	layers := s.img.Layers
	user := s.img.Config.Config.User
	return s.run(ctx, step{
		text:  "WORKDIR " + wd,
		apply: func(img *Image) { img.Config.Config.WorkingDir = wd },
		layer: func(ctx context.Context) (*Layer, error) {
			return s.bl.b.Mkdir(ctx, layers, wd, user)
		},
	})
}

// shellArgs returns the command line of RUN/CMD/ENTRYPOINT: the exec form
// as is, the shell form behind the image's SHELL (default /bin/sh -c).
func (s *stageState) shellArgs(cl instructions.ShellDependantCmdLine) []string {
	if !cl.PrependShell {
		return append([]string(nil), cl.CmdLine...)
	}
	sh := s.img.Config.Config.Shell
	if len(sh) == 0 {
		sh = []string{"/bin/sh", "-c"}
	}
	return append(append([]string(nil), sh...), strings.Join(cl.CmdLine, " "))
}

// RUN: a step container on the current layers; its changes are the layer.
func (s *stageState) dispatchRun(ctx context.Context, c *instructions.RunCommand) error {
	cl := c.ShellDependantCmdLine
	var files []InlineFile
	if len(c.Files) > 0 {
		var err error
		if cl, files, err = heredocRun(c); err != nil {
			return err
		}
	}
	args := s.shellArgs(cl)
	if len(args) == 0 {
		return errdefs.InvalidArgumentf("RUN requires at least one argument")
	}
	network := instructions.GetNetwork(c)
	if network == "" || network == instructions.NetworkDefault {
		network = s.bl.o.NetworkMode
	}
	var mounts []RunMount
	var inputs []string
	for _, m := range instructions.GetMounts(c) {
		rm, in, err := s.runMount(ctx, m)
		if err != nil {
			return err
		}
		mounts = append(mounts, rm)
		inputs = append(inputs, in)
	}
	if network != "" && network != "default" {
		inputs = append(inputs, "network="+network)
	}
	for _, f := range files {
		inputs = append(inputs, "file="+f.Path+"="+digest.FromString(f.Data).String())
	}
	for _, f := range c.FlagsUsed {
		if f == "security" || f == "device" {
			return errdefs.NotImplemented(fmt.Errorf("RUN --%s is not supported", f))
		}
	}
	argv, _ := json.Marshal(args)
	text := "RUN " + string(argv)
	env := s.img.Config.Config.Env
	runEnv := append(append([]string(nil), env...), s.args.env(env, true)...)
	cfg := s.img.Config.Config
	layers := s.img.Layers
	history := "RUN " + strings.Join(args, " ")
	if bargs := s.args.env(env, false); len(bargs) > 0 {
		// Docker's legacy form: "|N K=V ... cmd".
		history = fmt.Sprintf("RUN |%d %s %s", len(bargs), strings.Join(bargs, " "), strings.Join(args, " "))
	}
	plat := s.platform
	instr := c.String()
	return s.run(ctx, step{
		text: text, runArgs: true, inputs: inputs, history: history,
		layer: func(ctx context.Context) (*Layer, error) {
			return s.bl.b.Run(ctx, RunRequest{
				Layers: layers, Args: args, Env: runEnv, Cwd: cfg.WorkingDir, User: cfg.User,
				Network: network, Mounts: mounts, Platform: plat, Files: files,
				Stdout: s.out, Stderr: s.out, Instruction: instr,
			})
		},
	})
}

// heredocRun turns RUN <<EOF ... into a command line, as buildkit does:
// a lone heredoc with a #! line runs as a script file, a lone heredoc
// without one is handed to the shell, anything else is reassembled for
// the shell to read.
func heredocRun(c *instructions.RunCommand) (instructions.ShellDependantCmdLine, []InlineFile, error) {
	cl := c.ShellDependantCmdLine
	if len(cl.CmdLine) != 1 || !cl.PrependShell {
		return cl, nil, errdefs.InvalidArgumentf("parsing produced an invalid run command: %v", cl.CmdLine)
	}
	if h := parser.MustParseHeredoc(cl.CmdLine[0]); h != nil {
		f := c.Files[0]
		data := f.Data
		if f.Chomp {
			data = parser.ChompHeredocContent(data)
		}
		if strings.HasPrefix(data, "#!") {
			p := "/dev/pipes/" + f.Name
			return instructions.ShellDependantCmdLine{CmdLine: []string{p}}, []InlineFile{{Path: p, Data: data, Mode: 0o755}}, nil
		}
		return instructions.ShellDependantCmdLine{CmdLine: []string{data}, PrependShell: true}, nil, nil
	}
	full := cl.CmdLine[0]
	for _, f := range c.Files {
		full += "\n" + f.Data + f.Name
	}
	return instructions.ShellDependantCmdLine{CmdLine: []string{full}, PrependShell: true}, nil, nil
}

// runMount resolves one RUN --mount and returns it with its cache input.
func (s *stageState) runMount(ctx context.Context, m *instructions.Mount) (RunMount, string, error) {
	rm := RunMount{Type: string(m.Type), Target: m.Target, ReadOnly: m.ReadOnly, Mode: m.Mode, UID: m.UID, GID: m.GID, Required: m.Required}
	if rm.Target != "" && !path.IsAbs(rm.Target) {
		wd := s.img.Config.Config.WorkingDir
		if wd == "" {
			wd = "/"
		}
		rm.Target = path.Join(wd, rm.Target)
	}
	switch m.Type {
	case instructions.MountTypeBind:
		src := m.Source
		if src == "" {
			src = "/"
		}
		req := SourceRequest{Kind: FromContext, Paths: []string{src}, Cmd: "RUN --mount"}
		if m.From != "" {
			img, key, err := s.fromSource(ctx, m.From)
			if err != nil {
				return rm, "", err
			}
			req.Kind, req.Image, req.Key = FromImage, img, key
		}
		srcs, err := s.bl.b.Sources(ctx, req)
		if err != nil {
			return rm, "", err
		}
		rm.Sources = &srcs
		return rm, fmt.Sprintf("bind=%s:%s:%v:%s", rm.Target, src, rm.ReadOnly, srcs.Digest()), nil
	case instructions.MountTypeCache:
		rm.CacheID = m.CacheID
		if rm.CacheID == "" {
			rm.CacheID = rm.Target
		}
		rm.Sharing = string(m.CacheSharing)
		if m.From != "" {
			return rm, "", errdefs.NotImplemented(fmt.Errorf("RUN --mount=type=cache,from= is not supported"))
		}
		return rm, fmt.Sprintf("cache=%s:%s:%v", rm.Target, rm.CacheID, rm.ReadOnly), nil
	case instructions.MountTypeTmpfs:
		rm.Size = m.SizeLimit
		return rm, fmt.Sprintf("tmpfs=%s:%d", rm.Target, rm.Size), nil
	case instructions.MountTypeSecret:
		rm.SecretID = m.CacheID
		if rm.SecretID == "" && m.Target != "" {
			rm.SecretID = path.Base(m.Target)
		}
		if rm.SecretID == "" {
			return rm, "", errdefs.InvalidArgumentf("secret mount requires an id or a target")
		}
		if m.Env != nil {
			rm.Env = *m.Env
		}
		if m.Target == "" && rm.Env == "" {
			rm.Target = "/run/secrets/" + rm.SecretID
		}
		// The secret's value is no input: the step is cached like buildkit's.
		return rm, fmt.Sprintf("secret=%s:%s:%s", rm.SecretID, rm.Target, rm.Env), nil
	case instructions.MountTypeSSH:
		return rm, "", errdefs.NotImplemented(fmt.Errorf("RUN --mount=type=ssh is not supported: berth forwards no SSH agent"))
	}
	return rm, "", errdefs.InvalidArgumentf("unsupported mount type %q", m.Type)
}

// fromSource resolves a --from value: an earlier stage (waiting for it)
// or an image.
func (s *stageState) fromSource(ctx context.Context, from string) (Image, digest.Digest, error) {
	i, err := s.bl.stageRef(from, s.node.idx)
	if err != nil {
		return Image{}, "", err
	}
	if i >= 0 {
		dep, err := s.bl.waitStage(ctx, i)
		if err != nil {
			return Image{}, "", err
		}
		return dep.result, dep.key, nil
	}
	img, err := s.bl.b.Image(ctx, from, s.platform)
	if err != nil {
		return Image{}, "", fmt.Errorf("invalid from flag value %s: %w", from, err)
	}
	return img, digest.FromString("image\x00" + img.ID.String()), nil
}

// destPath makes a COPY/ADD destination absolute against WORKDIR,
// keeping a trailing slash (it says "into this directory").
func (s *stageState) destPath(dest string) string {
	slash := strings.HasSuffix(dest, "/") || dest == "." || strings.HasSuffix(dest, "/.")
	if !path.IsAbs(dest) {
		wd := s.img.Config.Config.WorkingDir
		if wd == "" {
			wd = "/"
		}
		dest = path.Join(wd, dest)
	}
	dest = path.Clean(dest)
	if slash && dest != "/" {
		dest += "/"
	}
	return dest
}

// COPY [--from] [--chown] [--chmod] [--link] [--exclude] src... dest
func (s *stageState) dispatchCopy(ctx context.Context, c *instructions.CopyCommand) error {
	if c.Parents {
		return errdefs.NotImplemented(fmt.Errorf("COPY --parents is not supported"))
	}
	req := SourceRequest{Kind: FromContext, Paths: c.SourcePaths, Cmd: "COPY", Excludes: c.ExcludePatterns}
	for _, sc := range c.SourceContents {
		req.Inline = append(req.Inline, InlineFile{Path: sc.Path, Data: sc.Data, Mode: 0o644})
	}
	var fromKey string
	if c.From != "" {
		img, key, err := s.fromSource(ctx, c.From)
		if err != nil {
			return err
		}
		req.Kind, req.Image, req.Key = FromImage, img, key
		fromKey = key.String()
	}
	return s.copyStep(ctx, "COPY", req, c.DestPath, c.Chown, c.Chmod, c.From != "" && c.Chown == "", fromKey, c.String())
}

// ADD [--chown] [--chmod] [--checksum] [--link] src... dest: like COPY,
// plus remote URLs and local tar archives extracted into dest.
func (s *stageState) dispatchAdd(ctx context.Context, c *instructions.AddCommand) error {
	req := SourceRequest{Kind: FromContext, Paths: c.SourcePaths, Cmd: "ADD", AllowURL: true, Unpack: true, Excludes: c.ExcludePatterns}
	if c.Unpack != nil {
		req.Unpack = *c.Unpack
	}
	if c.KeepGitDir != nil {
		return errdefs.NotImplemented(fmt.Errorf("ADD --keep-git-dir is not supported: berth does not clone git repositories"))
	}
	if c.Checksum != "" {
		d, err := digest.Parse(c.Checksum)
		if err != nil {
			return errdefs.InvalidArgumentf("invalid checksum digest format %q: %v", c.Checksum, err)
		}
		req.Checksum = d
	}
	for _, sc := range c.SourceContents {
		req.Inline = append(req.Inline, InlineFile{Path: sc.Path, Data: sc.Data, Mode: 0o644})
	}
	return s.copyStep(ctx, "ADD", req, c.DestPath, c.Chown, c.Chmod, false, "", c.String())
}

func (s *stageState) copyStep(ctx context.Context, cmd string, req SourceRequest, dest, chown, chmod string, preserve bool, fromKey, src string) error {
	if chmod != "" {
		if _, err := strconv.ParseUint(chmod, 8, 32); err != nil {
			return errdefs.InvalidArgumentf("invalid chmod parameter %q: only octal modes are supported", chmod)
		}
	}
	srcs, err := s.bl.b.Sources(ctx, req)
	if err != nil {
		return err
	}
	d := s.destPath(dest)
	if srcs.Count() > 1 && !strings.HasSuffix(d, "/") {
		return errdefs.InvalidArgumentf("When using %s with more than one source file, the destination must be a directory and end with a /", cmd)
	}
	text := cmd
	if fromKey != "" {
		text += " --from=" + fromKey
	}
	if chown != "" {
		text += " --chown=" + chown
	}
	if chmod != "" {
		text += " --chmod=" + chmod
	}
	if !req.Unpack && cmd == "ADD" {
		text += " --unpack=false"
	}
	text += " " + strings.Join(req.Paths, " ")
	for _, f := range req.Inline {
		text += " <<" + f.Path
	}
	text += " " + d
	layers := s.img.Layers
	plat := s.platform
	return s.run(ctx, step{
		text: text, sources: srcs, history: historyText(src),
		layer: func(ctx context.Context) (*Layer, error) {
			return s.bl.b.Copy(ctx, CopyRequest{
				Layers: layers, Sources: srcs, Dest: d, Chown: chown, Chmod: chmod,
				PreserveOwner: preserve, Platform: plat, SourceDateEpoch: s.bl.o.SourceDateEpoch, Cmd: cmd,
			})
		},
	})
}

// historyText is the instruction as written (first line of heredocs).
func historyText(src string) string {
	if i := strings.IndexByte(src, '\n'); i >= 0 {
		return src[:i]
	}
	return src
}

// CMD
func (s *stageState) dispatchCmd(ctx context.Context, c *instructions.CmdCommand) error {
	cmd := s.shellArgs(c.ShellDependantCmdLine)
	set := len(c.CmdLine) != 0
	b, _ := json.Marshal(cmd)
	return s.run(ctx, step{text: "CMD " + string(b), apply: func(img *Image) {
		img.Config.Config.Cmd = cmd
		if len(cmd) == 0 {
			img.Config.Config.Cmd = nil
		}
		if set {
			s.cmdSet = true
		}
	}})
}

// ENTRYPOINT: resets a CMD inherited from the base image.
func (s *stageState) dispatchEntrypoint(ctx context.Context, c *instructions.EntrypointCommand) error {
	ep := s.shellArgs(c.ShellDependantCmdLine)
	b, _ := json.Marshal(ep)
	return s.run(ctx, step{text: "ENTRYPOINT " + string(b), apply: func(img *Image) {
		img.Config.Config.Entrypoint = ep
		if len(ep) == 0 {
			img.Config.Config.Entrypoint = nil
		}
		if !s.cmdSet {
			img.Config.Config.Cmd = nil
		}
	}})
}

// HEALTHCHECK
func (s *stageState) dispatchHealthcheck(ctx context.Context, c *instructions.HealthCheckCommand) error {
	h := c.Health
	hc := &image.HealthConfig{Test: h.Test, Interval: int64(h.Interval), Timeout: int64(h.Timeout),
		StartPeriod: int64(h.StartPeriod), StartInterval: int64(h.StartInterval), Retries: h.Retries}
	if old := s.img.Config.Config.Healthcheck; old != nil && len(old.Test) > 0 && old.Test[0] != "NONE" {
		printTo(s.out, "Note: overriding previous HEALTHCHECK: %v\n", old.Test)
	}
	b, _ := json.Marshal(hc)
	return s.run(ctx, step{text: "HEALTHCHECK " + string(b), apply: func(img *Image) {
		img.Config.Config.Healthcheck = hc
	}})
}

// EXPOSE: the only instruction whose words may expand into several.
func (s *stageState) dispatchExpose(ctx context.Context, c *instructions.ExposeCommand) error {
	var ports []string
	env := envGetter(s.expansionEnv())
	for _, p := range c.Ports {
		ps, err := s.lex.ProcessWords(p, env)
		if err != nil {
			return errdefs.InvalidArgument(err)
		}
		ports = append(ports, ps...)
	}
	exposed, err := parsePorts(ports)
	if err != nil {
		return err
	}
	return s.run(ctx, step{text: "EXPOSE " + strings.Join(ports, " "), apply: func(img *Image) {
		if img.Config.Config.ExposedPorts == nil {
			img.Config.Config.ExposedPorts = map[string]struct{}{}
		}
		for _, p := range exposed {
			img.Config.Config.ExposedPorts[p] = struct{}{}
		}
	}})
}

// parsePorts reads EXPOSE specs: PORT[/PROTO] or FIRST-LAST[/PROTO].
func parsePorts(specs []string) ([]string, error) {
	var out []string
	for _, spec := range specs {
		p, proto, _ := strings.Cut(spec, "/")
		if proto == "" {
			proto = "tcp"
		}
		proto = strings.ToLower(proto)
		if proto != "tcp" && proto != "udp" && proto != "sctp" {
			return nil, errdefs.InvalidArgumentf("invalid proto: %s", proto)
		}
		if strings.Contains(p, ":") {
			return nil, errdefs.InvalidArgumentf("invalid containerPort: %s", p)
		}
		first, last, isRange := strings.Cut(p, "-")
		lo, err := strconv.ParseUint(first, 10, 16)
		if err != nil || lo == 0 {
			return nil, errdefs.InvalidArgumentf("invalid containerPort: %s", p)
		}
		hi := lo
		if isRange {
			if hi, err = strconv.ParseUint(last, 10, 16); err != nil || hi < lo {
				return nil, errdefs.InvalidArgumentf("invalid containerPort: %s", p)
			}
		}
		for n := lo; n <= hi; n++ {
			out = append(out, fmt.Sprintf("%d/%s", n, proto))
		}
	}
	return out, nil
}

// USER
func (s *stageState) dispatchUser(ctx context.Context, c *instructions.UserCommand) error {
	return s.run(ctx, step{text: "USER " + c.User, apply: func(img *Image) {
		img.Config.Config.User = c.User
	}})
}

// VOLUME
func (s *stageState) dispatchVolume(ctx context.Context, c *instructions.VolumeCommand) error {
	for _, v := range c.Volumes {
		if v == "" {
			return errdefs.InvalidArgumentf("VOLUME specified can not be an empty string")
		}
	}
	return s.run(ctx, step{text: fmt.Sprintf("VOLUME %v", c.Volumes), apply: func(img *Image) {
		if img.Config.Config.Volumes == nil {
			img.Config.Config.Volumes = map[string]struct{}{}
		}
		for _, v := range c.Volumes {
			img.Config.Config.Volumes[v] = struct{}{}
		}
	}})
}

// STOPSIGNAL
func (s *stageState) dispatchStopSignal(ctx context.Context, c *instructions.StopSignalCommand) error {
	if err := validSignal(c.Signal); err != nil {
		return err
	}
	return s.run(ctx, step{text: "STOPSIGNAL " + c.Signal, apply: func(img *Image) {
		img.Config.Config.StopSignal = c.Signal
	}})
}

// validSignal accepts what Docker's ParseSignal accepts: a number or a
// name with or without SIG (RTMIN+n too).
func validSignal(sig string) error {
	if n, err := strconv.Atoi(sig); err == nil {
		if n <= 0 || n > 64 {
			return errdefs.InvalidArgumentf("Invalid signal: %s", sig)
		}
		return nil
	}
	name := strings.ToUpper(strings.TrimPrefix(strings.ToUpper(sig), "SIG"))
	if unix.SignalNum("SIG"+name) != 0 {
		return nil
	}
	for _, p := range []string{"RTMIN", "RTMAX"} {
		if name == p {
			return nil
		}
		if rest, ok := strings.CutPrefix(name, p); ok && len(rest) > 1 && (rest[0] == '+' || rest[0] == '-') {
			if _, err := strconv.Atoi(rest[1:]); err == nil {
				return nil
			}
		}
	}
	return errdefs.InvalidArgumentf("Invalid signal: %s", sig)
}

// ARG name[=default] ...
func (s *stageState) dispatchArg(ctx context.Context, c *instructions.ArgCommand) error {
	var parts []string
	for _, a := range c.Args {
		s.args.declare(a.Key, a.Value)
		if a.Value != nil {
			parts = append(parts, a.Key+"="+*a.Value)
		} else {
			parts = append(parts, a.Key)
		}
	}
	return s.run(ctx, step{text: "ARG " + strings.Join(parts, " ")})
}

// SHELL ["executable", "args"...]
func (s *stageState) dispatchShell(ctx context.Context, c *instructions.ShellCommand) error {
	sh := append([]string(nil), c.Shell...)
	b, _ := json.Marshal(sh)
	return s.run(ctx, step{text: "SHELL " + string(b), apply: func(img *Image) {
		img.Config.Config.Shell = sh
	}})
}
