// Package build turns a Dockerfile into an image: buildkit's parser reads
// it, one dispatch function per instruction changes the image under
// construction, and everything that touches files, containers or the cache
// goes through a Backend (the engine's, or a fake in tests).
//
// Stages run as soon as the stages they need are done, so independent
// stages build in parallel; stages the target does not need are skipped.
// Every step has a cache key: its parent's key, the instruction after
// variable expansion, the build args in effect (RUN) and the digests of
// the files it copies (never their times).
package build

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/image/platform"
)

// Options describe one build.
type Options struct {
	Dockerfile     []byte
	DockerfileName string // for messages; default "Dockerfile"
	BuildArgs      map[string]*string
	Target         string
	Labels         map[string]string
	NoCache        bool
	NetworkMode    string           // RUN's default network: "default", "none" or "host"
	Platform       ocispec.Platform // target platform; zero: this host
	// SourceDateEpoch, when set, is the creation time of the image, its
	// history and every file the build writes (reproducible builds).
	SourceDateEpoch *time.Time
	// Out receives the progress text (steps, RUN output); nil discards.
	Out io.Writer
	// Now returns the current time (tests); nil is time.Now.
	Now func() time.Time
}

// Result is a finished build.
type Result struct {
	Image Image         // config (with history and diff IDs) and layers
	Key   digest.Digest // cache key of the last step
	// UnusedArgs are --build-arg names no ARG consumed.
	UnusedArgs []string
}

// Build runs the Dockerfile in o against b.
func Build(ctx context.Context, b Backend, o Options) (*Result, error) {
	if o.DockerfileName == "" {
		o.DockerfileName = "Dockerfile"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Platform.OS == "" {
		o.Platform = platform.Host()
	}
	o.Platform = platform.Normalize(o.Platform)
	df, err := parseDockerfile(o.DockerfileName, o.Dockerfile)
	if err != nil {
		return nil, err
	}
	bl := &builder{b: b, o: o, df: df, user: newUserArgs(o.BuildArgs), out: &syncWriter{w: o.Out}}
	for _, w := range df.warnings {
		bl.out.printf("[WARNING]: %s\n", w)
	}
	return bl.run(ctx)
}

// builder is the state of one build.
type builder struct {
	b     Backend
	o     Options
	df    *dockerfile
	user  *userArgs
	meta  map[string]*string
	out   *syncWriter
	nodes []*stageNode
	total int
	// stageOut keeps the output of parallel stages in Dockerfile order.
	stageOut *orderedOutput
}

// stageNode is one stage of the Dockerfile and its result.
type stageNode struct {
	idx    int
	stage  instructions.Stage
	deps   map[int]bool
	needed bool
	step   int // number of its FROM step
	done   chan struct{}
	result Image
	key    digest.Digest
	err    error
}

func (bl *builder) run(ctx context.Context) (*Result, error) {
	if err := bl.processMetaArgs(); err != nil {
		return nil, err
	}
	target := len(bl.df.stages) - 1
	if bl.o.Target != "" {
		i, ok := instructions.HasStage(bl.df.stages, bl.o.Target)
		if !ok {
			return nil, errdefs.InvalidArgumentf("target stage %q could not be found", bl.o.Target)
		}
		target = i
	}
	for i, st := range bl.df.stages {
		bl.nodes = append(bl.nodes, &stageNode{idx: i, stage: st, deps: map[int]bool{}, done: make(chan struct{})})
	}
	for _, n := range bl.nodes {
		if err := bl.findDeps(n); err != nil {
			return nil, err
		}
	}
	bl.markNeeded(target)
	// --label values become LABEL instructions at the end of the target.
	keys := sortedKeys(bl.o.Labels)
	for _, k := range keys {
		bl.nodes[target].stage.AddCommand(instructions.NewLabelCommand(k, bl.o.Labels[k], true))
	}
	bl.total = len(bl.df.metaArgs)
	for _, n := range bl.nodes {
		if n.needed {
			bl.total += 1 + len(n.stage.Commands)
		}
	}
	step := 1
	for i := range bl.df.metaArgs {
		bl.out.printf("Step %d/%d : %s\n", step, bl.total, bl.df.metaArgs[i].String())
		step++
	}
	for _, n := range bl.nodes {
		if n.needed {
			n.step = step
			step += 1 + len(n.stage.Commands)
		}
	}

	var order []int
	for _, n := range bl.nodes {
		if n.needed {
			order = append(order, n.idx)
		}
	}
	bl.stageOut = newOrderedOutput(bl.out, order)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for _, n := range bl.nodes {
		if !n.needed {
			continue
		}
		wg.Add(1)
		go func(n *stageNode) {
			defer wg.Done()
			defer close(n.done)
			n.err = bl.buildStage(ctx, n)
			if n.err != nil {
				cancel()
			}
			bl.stageOut.finish(n.idx)
		}(n)
	}
	wg.Wait()
	bl.stageOut.flush()
	// Report the error that caused the others (cancellations follow it).
	var firstErr error
	for _, n := range bl.nodes {
		if n.err == nil {
			continue
		}
		if firstErr == nil || (isCanceled(firstErr) && !isCanceled(n.err)) {
			firstErr = n.err
		}
	}
	if firstErr != nil {
		return nil, firstErr
	}
	t := bl.nodes[target]
	res := &Result{Image: t.result, Key: t.key, UnusedArgs: bl.user.unused()}
	if len(res.UnusedArgs) > 0 {
		bl.out.printf("[Warning] One or more build-args %v were not consumed\n", res.UnusedArgs)
	}
	return res, nil
}

func isCanceled(err error) bool {
	return err == context.Canceled || strings.Contains(err.Error(), context.Canceled.Error())
}

// processMetaArgs evaluates the ARGs before the first FROM, plus the
// platform args buildkit predefines.
func (bl *builder) processMetaArgs() error {
	bl.meta = map[string]*string{}
	for k, v := range platformArgs(bl.o.Platform) {
		bl.meta[k] = &v
	}
	lex := shell.NewLex(bl.df.escape)
	for i := range bl.df.metaArgs {
		a := &bl.df.metaArgs[i]
		env := bl.metaEnv()
		err := a.Expand(func(w string) (string, error) {
			r, _, err := lex.ProcessWord(w, shell.EnvsFromSlice(env))
			return r, err
		})
		if err != nil {
			return atLocation(bl.df.name, a.Location(), errdefs.InvalidArgument(err))
		}
		for _, kv := range a.Args {
			bl.user.markUsed(kv.Key)
			if v, ok := bl.user.lookup(kv.Key); ok {
				bl.meta[kv.Key] = &v
			} else {
				bl.meta[kv.Key] = kv.Value
			}
		}
	}
	return nil
}

func (bl *builder) metaEnv() []string {
	var env []string
	for _, k := range sortedKeys(bl.meta) {
		if v := bl.meta[k]; v != nil {
			env = append(env, k+"="+*v)
		}
	}
	return env
}

// platformArgs are buildkit's automatic platform ARGs.
func platformArgs(p ocispec.Platform) map[string]string {
	host := platform.Host()
	return map[string]string{
		"TARGETPLATFORM": platform.Format(p), "TARGETOS": p.OS, "TARGETARCH": p.Architecture, "TARGETVARIANT": p.Variant,
		"BUILDPLATFORM": platform.Format(host), "BUILDOS": host.OS, "BUILDARCH": host.Architecture, "BUILDVARIANT": host.Variant,
	}
}

// expandMeta expands a word with the global ARGs (FROM, --from).
func (bl *builder) expandMeta(w string) (string, error) {
	r, _, err := shell.NewLex(bl.df.escape).ProcessWord(w, shell.EnvsFromSlice(bl.metaEnv()))
	return r, err
}

// stageRef returns the index of the stage that name (a stage name or
// number) refers to from stage cur, or -1 for an image.
func (bl *builder) stageRef(name string, cur int) (int, error) {
	if i, ok := instructions.HasStage(bl.df.stages[:cur], name); ok {
		return i, nil
	}
	if n, err := strconv.Atoi(name); err == nil {
		if n < 0 || n >= cur {
			if n == cur {
				return -1, errdefs.InvalidArgumentf("invalid from flag value %s: refers to current build stage", name)
			}
			return -1, errdefs.InvalidArgumentf("invalid from flag value %s: index out of bounds", name)
		}
		return n, nil
	}
	if strings.EqualFold(bl.df.stages[cur].Name, name) && name != "" {
		return -1, errdefs.InvalidArgumentf("invalid from flag value %s: refers to current build stage", name)
	}
	return -1, nil
}

// findDeps records which earlier stages n uses (FROM, COPY --from, RUN
// --mount from=).
func (bl *builder) findDeps(n *stageNode) error {
	for j := 0; j < n.idx; j++ {
		if n.stage.Name != "" && strings.EqualFold(bl.df.stages[j].Name, n.stage.Name) {
			return atLocation(bl.df.name, n.stage.Location, errdefs.InvalidArgumentf("%s stage name already used", n.stage.Name))
		}
	}
	base, err := bl.expandMeta(n.stage.BaseName)
	if err != nil {
		return atLocation(bl.df.name, n.stage.Location, errdefs.InvalidArgument(err))
	}
	if i, ok := instructions.HasStage(bl.df.stages[:n.idx], base); ok {
		n.deps[i] = true
	}
	for _, cmd := range n.stage.Commands {
		var froms []string
		switch c := cmd.(type) {
		case *instructions.CopyCommand:
			if c.From != "" {
				froms = append(froms, c.From)
			}
		case *instructions.RunCommand:
			// Expanding parses the --mount flags; dispatch expands again
			// with the stage's variables.
			if err := c.Expand(bl.expandMeta); err != nil {
				return atLocation(bl.df.name, c.Location(), errdefs.InvalidArgument(err))
			}
			for _, m := range instructions.GetMounts(c) {
				if m.From != "" {
					froms = append(froms, m.From)
				}
			}
		}
		for _, f := range froms {
			name, err := bl.expandMeta(f)
			if err != nil {
				return atLocation(bl.df.name, cmd.Location(), errdefs.InvalidArgument(err))
			}
			i, err := bl.stageRef(name, n.idx)
			if err != nil {
				return atLocation(bl.df.name, cmd.Location(), err)
			}
			if i >= 0 {
				n.deps[i] = true
			}
		}
	}
	return nil
}

func (bl *builder) markNeeded(i int) {
	n := bl.nodes[i]
	if n.needed {
		return
	}
	n.needed = true
	for d := range n.deps {
		bl.markNeeded(d)
	}
}

// waitStage waits for stage i and returns its result.
func (bl *builder) waitStage(ctx context.Context, i int) (*stageNode, error) {
	n := bl.nodes[i]
	select {
	case <-n.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if n.err != nil {
		return nil, context.Canceled
	}
	return n, nil
}

// syncWriter serialises progress writes of parallel stages.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	if s.w == nil {
		return len(p), nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *syncWriter) printf(format string, a ...any) {
	fmt.Fprintf(s, format, a...)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
