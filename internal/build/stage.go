package build

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/image/platform"
	"github.com/berth-project/berth/internal/oci"
)

// stageState is the image under construction in one stage.
type stageState struct {
	bl       *builder
	node     *stageNode
	img      Image
	key      digest.Digest
	args     *argScope
	lex      *shell.Lex
	cmdSet   bool
	platform ocispec.Platform
	step     int
	out      io.Writer         // this stage's progress (see orderedOutput)
	history  []ocispec.History // this stage's entries (appended to the base's)
	rebuilt  bool              // a step of this stage missed the cache
}

func (bl *builder) buildStage(ctx context.Context, n *stageNode) error {
	s := &stageState{bl: bl, node: n, args: newArgScope(bl.user, bl.meta), lex: shell.NewLex(bl.df.escape), step: n.step,
		out: bl.stageOut.stage(n.idx)}
	if err := s.from(ctx); err != nil {
		return atLocation(bl.df.name, n.stage.Location, err)
	}
	for _, cmd := range n.stage.Commands {
		if err := ctx.Err(); err != nil {
			return err
		}
		s.printStep(cmd.(fmt.Stringer).String())
		if err := s.dispatch(ctx, cmd); err != nil {
			return atLocation(bl.df.name, cmd.Location(), err)
		}
	}
	s.finish()
	n.result, n.key = s.img, s.key
	return nil
}

func (s *stageState) printStep(text string) {
	printTo(s.out, "Step %d/%d : %s\n", s.step, s.bl.total, text)
	s.step++
}

func (s *stageState) note(format string, a ...any) {
	printTo(s.out, " ---> "+format+"\n", a...)
}

// from handles the stage's FROM: a stage, an image or scratch, and the
// base image's ONBUILD triggers.
func (s *stageState) from(ctx context.Context) error {
	st := s.node.stage
	s.printStep(st.SourceCode)
	name, err := s.bl.expandMeta(st.BaseName)
	if err != nil {
		return errdefs.InvalidArgument(err)
	}
	if name == "" {
		return errdefs.InvalidArgumentf("base name (%s) should not be blank", st.BaseName)
	}
	s.platform = s.bl.o.Platform
	if st.Platform != "" {
		pv, err := s.bl.expandMeta(st.Platform)
		if err != nil {
			return errdefs.InvalidArgumentf("failed to process arguments for platform %s: %v", st.Platform, err)
		}
		p, err := platform.Parse(pv)
		if err != nil {
			return errdefs.InvalidArgumentf("failed to parse platform %s: %w", pv, err)
		}
		s.platform = platform.Normalize(p)
	}
	if !platform.Only(platform.Host()).Match(s.platform) {
		return errdefs.InvalidArgumentf("platform %s is not supported: this host builds %s only", platform.Format(s.platform), platform.Format(platform.Host()))
	}
	switch i, _ := instructions.HasStage(s.bl.df.stages[:s.node.idx], name); {
	case i >= 0:
		dep, err := s.bl.waitStage(ctx, i)
		if err != nil {
			return err
		}
		s.img = cloneImage(dep.result)
		s.key = dep.key
		s.note("%s", shortKey(s.key))
	case strings.EqualFold(name, "scratch"):
		s.img = Image{}
		s.img.Config.OS, s.img.Config.Architecture, s.img.Config.Variant = s.platform.OS, s.platform.Architecture, s.platform.Variant
		s.img.Config.RootFS.Type = "layers"
		s.key = digest.FromString("scratch\x00" + platform.Format(s.platform))
	default:
		img, err := s.bl.b.Image(ctx, name, s.platform)
		if err != nil {
			return err
		}
		s.img = cloneImage(img)
		s.key = digest.FromString("image\x00" + img.ID.String())
		s.note("%s", shortID(img.ID))
	}
	// Docker's default PATH when the base sets none.
	if _, ok := envGet(s.img.Config.Config.Env, "PATH"); !ok {
		s.img.Config.Config.Env = append(s.img.Config.Config.Env, "PATH="+oci.DefaultPath)
	}
	if s.img.Config.RootFS.Type == "" {
		s.img.Config.RootFS.Type = "layers"
	}
	triggers := s.img.Config.Config.OnBuild
	s.img.Config.Config.OnBuild = nil
	if len(triggers) > 0 {
		plural := ""
		if len(triggers) > 1 {
			plural = "s"
		}
		printTo(s.out, "# Executing %d build trigger%s\n", len(triggers), plural)
	}
	for _, t := range triggers {
		ast, err := parser.Parse(strings.NewReader(t))
		if err != nil {
			return errdefs.InvalidArgumentf("ONBUILD trigger %q: %v", t, err)
		}
		if len(ast.AST.Children) != 1 {
			return errdefs.InvalidArgumentf("onbuild trigger should be a single expression")
		}
		cmd, err := instructions.ParseCommand(ast.AST.Children[0])
		if err != nil {
			return errdefs.InvalidArgumentf("ONBUILD trigger %q: %v", t, err)
		}
		printTo(s.out, " ---> Running trigger: %s\n", t)
		if err := s.dispatch(ctx, cmd); err != nil {
			return err
		}
	}
	return nil
}

// finish fills the config fields that follow from the steps: history,
// diff IDs and creation time.
func (s *stageState) finish() {
	cfg := &s.img.Config
	cfg.History = append(append([]ocispec.History(nil), cfg.History...), s.history...)
	cfg.RootFS.DiffIDs = nil
	for _, l := range s.img.Layers {
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, l.DiffID)
	}
	if n := len(s.history); n > 0 {
		t := *s.history[n-1].Created
		cfg.Created = &t
	}
	if cfg.OS == "" {
		cfg.OS, cfg.Architecture, cfg.Variant = s.platform.OS, s.platform.Architecture, s.platform.Variant
	}
	s.history = nil
}

// expansionEnv is what $VARs in instructions see: the image env plus the
// build args in effect that the env does not override.
func (s *stageState) expansionEnv() []string {
	env := s.img.Config.Config.Env
	return append(append([]string(nil), env...), s.args.env(env, false)...)
}

func (s *stageState) expander() instructions.SingleWordExpander {
	env := shell.EnvsFromSlice(s.expansionEnv())
	return func(w string) (string, error) {
		r, _, err := s.lex.ProcessWord(w, env)
		return r, err
	}
}

// step is one instruction's effect: a config change, maybe a layer.
type step struct {
	text    string       // instruction after expansion (key and history)
	runArgs bool         // the build args in effect are inputs (RUN)
	sources Sources      // copied files (COPY, ADD, RUN bind mounts)
	inputs  []string     // more key inputs (mount sources, network)
	apply   func(*Image) // the config change (also on a cache hit)
	layer   func(context.Context) (*Layer, error)
	history string // created_by; default text
}

// run keys the step, takes it from the cache or does it, and records it.
func (s *stageState) run(ctx context.Context, st step) error {
	env := s.img.Config.Config.Env
	var argDigests map[string]digest.Digest
	if st.runArgs {
		argDigests = s.args.digests(env)
	}
	h := digest.Canonical.Digester()
	fmt.Fprintf(h.Hash(), "%s\x00%s\x00", s.key, st.text)
	probe := h.Digest()
	for _, k := range sortedKeys(argDigests) {
		fmt.Fprintf(h.Hash(), "arg\x00%s\x00%s\x00", k, argDigests[k])
	}
	var srcDigest digest.Digest
	if st.sources != nil {
		srcDigest = st.sources.Digest()
		fmt.Fprintf(h.Hash(), "src\x00%s\x00", srcDigest)
	}
	for _, in := range st.inputs {
		fmt.Fprintf(h.Hash(), "in\x00%s\x00", in)
	}
	key := h.Digest()

	b := s.bl.b
	if !s.bl.o.NoCache {
		if rec, ok := b.CacheGet(ctx, key); ok {
			if st.layer != nil {
				s.note("CACHED")
			}
			s.commit(st, key, rec.Layer, rec.Created)
			return nil
		}
	}
	if st.layer != nil {
		s.note("Cache miss: %s", s.missReason(ctx, probe, argDigests, srcDigest, st.sources))
	}
	s.rebuilt = true
	var layer *Layer
	if st.layer != nil {
		var err error
		if layer, err = st.layer(ctx); err != nil {
			return err
		}
	}
	created := s.bl.o.Now().UTC()
	if e := s.bl.o.SourceDateEpoch; e != nil {
		created = e.UTC()
	}
	rec := CacheRecord{Layer: layer, Created: created, Instruction: st.text, Args: argDigests, Sources: srcDigest}
	if st.sources != nil {
		rec.Files = capFiles(st.sources.Files())
	}
	if err := b.CachePut(ctx, key, probe, rec); err != nil {
		return err
	}
	s.commit(st, key, layer, created)
	if layer != nil {
		s.note("%s", shortKey(layer.DiffID))
	}
	return nil
}

const maxRecordedFiles = 2000

func capFiles(f []FileSum) []FileSum {
	if len(f) > maxRecordedFiles {
		return nil
	}
	return f
}

func (s *stageState) commit(st step, key digest.Digest, layer *Layer, created time.Time) {
	if st.apply != nil {
		st.apply(&s.img)
	}
	if layer != nil {
		s.img.Layers = append(s.img.Layers, *layer)
	}
	by := st.history
	if by == "" {
		by = st.text
	}
	c := created
	s.history = append(s.history, ocispec.History{Created: &c, CreatedBy: by, EmptyLayer: layer == nil})
	s.key = key
}

// missReason explains why a step with work missed the cache.
func (s *stageState) missReason(ctx context.Context, probe digest.Digest, args map[string]digest.Digest, src digest.Digest, sources Sources) string {
	if s.bl.o.NoCache {
		return "--no-cache"
	}
	if s.rebuilt {
		return "a previous step was rebuilt"
	}
	prev, ok := s.bl.b.CacheProbe(ctx, probe)
	if !ok {
		return "no cached result for this step after the previous one"
	}
	var changed []string
	for _, k := range sortedKeys(args) {
		if prev.Args[k] != args[k] {
			changed = append(changed, k)
		}
	}
	for _, k := range sortedKeys(prev.Args) {
		if _, ok := args[k]; !ok {
			changed = append(changed, k)
		}
	}
	if len(changed) > 0 {
		return "build args changed: " + strings.Join(changed, ", ")
	}
	if src != prev.Sources && sources != nil {
		old := map[string]digest.Digest{}
		for _, f := range prev.Files {
			old[f.Path] = f.Digest
		}
		var files []string
		now := sources.Files()
		seen := map[string]bool{}
		for _, f := range now {
			seen[f.Path] = true
			if old[f.Path] != f.Digest {
				files = append(files, f.Path)
			}
		}
		for _, f := range prev.Files {
			if !seen[f.Path] {
				files = append(files, f.Path+" (removed)")
			}
		}
		if len(files) == 0 || prev.Files == nil {
			return "source files changed"
		}
		if len(files) > 5 {
			return fmt.Sprintf("source files changed: %s and %d more", strings.Join(files[:5], ", "), len(files)-5)
		}
		return "source files changed: " + strings.Join(files, ", ")
	}
	return "inputs changed since the cached build"
}

func shortKey(d digest.Digest) string {
	e := d.Encoded()
	if len(e) > 12 {
		e = e[:12]
	}
	return e
}

func shortID(d digest.Digest) string {
	if d == "" {
		return "scratch"
	}
	return shortKey(d)
}

// cloneImage copies the mutable parts of an image.
func cloneImage(in Image) Image {
	out := in
	out.Layers = append([]Layer(nil), in.Layers...)
	c := in.Config.Config
	c.Env = append([]string(nil), c.Env...)
	c.Cmd = append([]string(nil), c.Cmd...)
	c.Entrypoint = append([]string(nil), c.Entrypoint...)
	c.OnBuild = append([]string(nil), c.OnBuild...)
	c.Shell = append([]string(nil), c.Shell...)
	c.Labels = cloneMap(c.Labels)
	c.ExposedPorts = cloneMap(c.ExposedPorts)
	c.Volumes = cloneMap(c.Volumes)
	if c.Healthcheck != nil {
		h := *c.Healthcheck
		h.Test = append([]string(nil), h.Test...)
		c.Healthcheck = &h
	}
	if len(in.Config.Config.Cmd) == 0 {
		c.Cmd = nil
	}
	if len(in.Config.Config.Entrypoint) == 0 {
		c.Entrypoint = nil
	}
	if len(in.Config.Config.OnBuild) == 0 {
		c.OnBuild = nil
	}
	if len(in.Config.Config.Shell) == 0 {
		c.Shell = nil
	}
	out.Config.Config = c
	out.Config.History = append([]ocispec.History(nil), in.Config.History...)
	out.Config.RootFS.DiffIDs = append([]digest.Digest(nil), in.Config.RootFS.DiffIDs...)
	return out
}

func cloneMap[V any](m map[string]V) map[string]V {
	if m == nil {
		return nil
	}
	out := make(map[string]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
