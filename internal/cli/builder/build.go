// Package builder holds `berth build` and `berth builder build|prune`.
package builder

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"

	"github.com/berth-project/berth/internal/cli/command"
	"github.com/berth-project/berth/internal/image/platform"
)

// secretsHeader is the header carrying --secret values (see the build router).
const secretsHeader = "X-Berth-Build-Secrets"

type buildOptions struct {
	tags      []string
	file      string
	buildArgs []string
	target    string
	noCache   bool
	labels    []string
	quiet     bool
	iidfile   string
	network   string
	platform  string
	outputs   []string
	secrets   []string
	pull      bool
	progress  string
}

// NewBuildCommand returns `berth build`.
func NewBuildCommand(cli *command.CLI) *cobra.Command {
	var o buildOptions
	cmd := &cobra.Command{
		Use:   "build [OPTIONS] PATH | -",
		Short: "Build an image from a Dockerfile",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBuild(cmd, cli, &o, args[0])
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&o.tags, "tag", "t", nil, `Name and optionally a tag in the "name:tag" format`)
	f.StringVarP(&o.file, "file", "f", "", `Name of the Dockerfile (default: "PATH/Dockerfile")`)
	f.StringArrayVar(&o.buildArgs, "build-arg", nil, "Set build-time variables")
	f.StringVar(&o.target, "target", "", "Set the target build stage to build")
	f.BoolVar(&o.noCache, "no-cache", false, "Do not use cache when building the image")
	f.StringArrayVar(&o.labels, "label", nil, "Set metadata for an image")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "Suppress the build output and print image ID on success")
	f.StringVar(&o.iidfile, "iidfile", "", "Write the image ID to the file")
	f.StringVar(&o.network, "network", "default", "Set the networking mode for the RUN instructions during build")
	f.StringVar(&o.platform, "platform", os.Getenv("DOCKER_DEFAULT_PLATFORM"), "Set platform if server is multi-platform capable")
	f.StringArrayVarP(&o.outputs, "output", "o", nil, `Output destination (format: "type=local,dest=path")`)
	f.StringArrayVar(&o.secrets, "secret", nil, `Secret to expose to the build (format: "id=mysecret[,src=/local/secret]" or "id=mysecret,env=VAR")`)
	f.BoolVar(&o.pull, "pull", false, "Always attempt to pull a newer version of the image")
	f.StringVar(&o.progress, "progress", "auto", "Set type of progress output (auto, plain)")
	f.Bool("rm", true, "Remove intermediate containers after a successful build")
	f.Bool("force-rm", false, "Always remove intermediate containers")
	f.MarkHidden("rm")
	f.MarkHidden("force-rm")
	return cmd
}

// NewBuilderCommand returns `berth builder`.
func NewBuilderCommand(cli *command.CLI) *cobra.Command {
	cmd := &cobra.Command{Use: "builder", Short: "Manage builds", Args: cobra.NoArgs}
	b := NewBuildCommand(cli)
	cmd.AddCommand(b, newPrune(cli))
	return cmd
}

func runBuild(cmd *cobra.Command, cli *command.CLI, o *buildOptions, ctxArg string) error {
	ctx := cmd.Context()
	opts := client.ImageBuildOptions{Tags: o.tags, Target: o.target, NoCache: o.noCache, SuppressOutput: o.quiet,
		PullParent: o.pull, NetworkMode: o.network, Remove: true, Version: "1"}
	if o.platform != "" {
		p, err := platform.Parse(o.platform)
		if err != nil {
			return err
		}
		opts.Platforms = []ocispec.Platform{p}
	}
	opts.BuildArgs = map[string]*string{}
	for _, a := range o.buildArgs {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			// KEY alone takes the value from the environment, if set.
			ev, set := os.LookupEnv(k)
			if !set {
				continue
			}
			v = ev
		}
		val := v
		opts.BuildArgs[k] = &val
	}
	opts.Labels = command.KeyValues(o.labels)
	exports, err := parseOutputs(o.outputs)
	if err != nil {
		return err
	}
	for _, e := range exports {
		opts.Outputs = append(opts.Outputs, client.ImageBuildOutput{Type: e.typ, Attrs: map[string]string{}})
	}
	secrets, err := readSecrets(o.secrets)
	if err != nil {
		return err
	}

	c, err := cli.Client(ctx)
	if err != nil {
		return err
	}
	src, err := prepareContext(cli, ctxArg, o.file)
	if err != nil {
		return err
	}
	opts.Dockerfile = src.dockerfile
	var secretHdr string
	if len(secrets) > 0 {
		raw, _ := json.Marshal(secrets)
		secretHdr = base64.URLEncoding.EncodeToString(raw)
	}
	body, err := sendBuild(ctx, c, cli.Host, src, opts, secretHdr)
	if err != nil {
		return err
	}
	defer body.Close()
	id, err := showProgress(body, cli.Out, o.quiet)
	if err != nil {
		return err
	}
	if o.iidfile != "" {
		if err := os.WriteFile(o.iidfile, []byte(id), 0o644); err != nil {
			return fmt.Errorf("write image ID to %s: %w", o.iidfile, err)
		}
	}
	for _, e := range exports {
		if err := export(ctx, c, cli, id, e); err != nil {
			return err
		}
	}
	if len(exports) > 0 && len(o.tags) == 0 {
		// An export-only build keeps no image behind.
		_, _ = c.ImageRemove(ctx, id, client.ImageRemoveOptions{PruneChildren: true})
	}
	return nil
}

// showProgress prints the build's messages and returns the image ID; a
// build error becomes the CLI's error (exit status: the failing RUN's).
func showProgress(r io.Reader, out io.Writer, quiet bool) (string, error) {
	dec := json.NewDecoder(r)
	id := ""
	for {
		var m struct {
			jsonstream.Message
			ErrorMessage string `json:"error"`
		}
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return "", fmt.Errorf("read build output: %w", err)
		}
		if m.Error != nil || m.ErrorMessage != "" {
			msg := m.ErrorMessage
			code := 1
			if m.Error != nil {
				msg = m.Error.Message
				if m.Error.Code > 0 {
					code = m.Error.Code
				}
			}
			return "", command.StatusError{Status: msg, StatusCode: code}
		}
		if m.Aux != nil {
			var res struct{ ID string }
			if json.Unmarshal(*m.Aux, &res) == nil && res.ID != "" {
				id = res.ID
			}
			continue
		}
		if m.Stream != "" {
			if quiet {
				continue
			}
			fmt.Fprint(out, m.Stream)
		}
	}
	if id == "" {
		return "", errors.New("the build finished without an image ID")
	}
	if quiet {
		fmt.Fprintln(out, id)
	}
	return id, nil
}

// contextSource is what a build sends: a directory with its exclude
// patterns and extra files, or a ready tar stream (stdin).
type contextSource struct {
	dockerfile string
	dir        string
	excludes   []string
	extra      map[string][]byte
	stream     io.Reader
}

// prepareContext finds the context and the Dockerfile name in it.
func prepareContext(cli *command.CLI, ctxArg, file string) (*contextSource, error) {
	if ctxArg == "-" {
		if file == "-" {
			return nil, errors.New("invalid argument: can't use stdin for both build context and dockerfile")
		}
		// A tar on stdin, or a lone Dockerfile.
		data, err := io.ReadAll(cli.In)
		if err != nil {
			return nil, err
		}
		if isTar(data) {
			return &contextSource{dockerfile: file, stream: bytes.NewReader(data)}, nil
		}
		dir, err := os.MkdirTemp("", "berth-build-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		var buf bytes.Buffer
		if err := tarContext(&buf, dir, nil, map[string][]byte{"Dockerfile": data}); err != nil {
			return nil, err
		}
		return &contextSource{dockerfile: "Dockerfile", stream: &buf}, nil
	}
	if strings.HasPrefix(ctxArg, "http://") || strings.HasPrefix(ctxArg, "https://") || strings.HasPrefix(ctxArg, "git@") {
		return nil, errors.New("remote build contexts are not supported: clone or download the context and build from a directory")
	}
	dir, err := filepath.Abs(ctxArg)
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("unable to prepare context: path %q not found", ctxArg)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("unable to prepare context: context must be a directory: %s", dir)
	}
	extra := map[string][]byte{}
	var dfPath, dfName string
	switch {
	case file == "-":
		data, err := io.ReadAll(cli.In)
		if err != nil {
			return nil, err
		}
		dfName = ".dockerfile." + randomName()
		extra[dfName] = data
	case file == "":
		dfPath = filepath.Join(dir, "Dockerfile")
		if _, err := os.Stat(dfPath); err != nil {
			if _, err2 := os.Stat(filepath.Join(dir, "dockerfile")); err2 == nil {
				dfPath = filepath.Join(dir, "dockerfile")
			} else {
				return nil, fmt.Errorf("unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat %s: no such file or directory", dfPath)
			}
		}
	default:
		dfPath = file
		if !filepath.IsAbs(dfPath) {
			if dfPath, err = filepath.Abs(file); err != nil {
				return nil, err
			}
		}
		if _, err := os.Stat(dfPath); err != nil {
			return nil, fmt.Errorf("unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat %s: no such file or directory", dfPath)
		}
	}
	if dfPath != "" {
		rel, err := filepath.Rel(dir, dfPath)
		if err != nil || strings.HasPrefix(rel, "..") {
			// A Dockerfile outside the context travels inside it under a random name.
			data, err := os.ReadFile(dfPath)
			if err != nil {
				return nil, err
			}
			dfName = ".dockerfile." + randomName()
			extra[dfName] = data
		} else {
			dfName = filepath.ToSlash(rel)
		}
	}
	excludes, err := readIgnore(dir, dfPath)
	if err != nil {
		return nil, err
	}
	return &contextSource{dockerfile: dfName, dir: dir, excludes: trimBuildFiles(excludes, dfName), extra: extra}, nil
}

// sendBuild posts the build: a directory context over a unix socket goes
// through contextSender (file data by sendfile); anything else through
// the API client with a tar stream (also when BERTH_BUILD_PLAIN_UPLOAD
// is set, to compare the two).
func sendBuild(ctx context.Context, c *client.Client, host string, src *contextSource, opts client.ImageBuildOptions, secrets string) (io.ReadCloser, error) {
	sock, isUnix := strings.CutPrefix(host, "unix://")
	if src.dir != "" && isUnix && os.Getenv("BERTH_BUILD_PLAIN_UPLOAD") == "" {
		q, err := buildQuery(opts)
		if err != nil {
			return nil, err
		}
		if _, err := c.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
			return nil, err
		}
		hdr := http.Header{}
		hdr.Set("Content-Type", "application/x-tar")
		hdr.Set("User-Agent", "berth-cli")
		if secrets != "" {
			hdr.Set(secretsHeader, secrets)
		}
		cs := &contextSender{dir: src.dir, excludes: src.excludes, extra: src.extra}
		resp, err := cs.post(ctx, sock, "/v"+c.ClientVersion()+"/build?"+q.Encode(), hdr)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode/100 != 2 {
			defer resp.Body.Close()
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			var m struct{ Message string }
			if json.Unmarshal(b, &m) == nil && m.Message != "" {
				return nil, fmt.Errorf("Error response from daemon: %s", m.Message)
			}
			return nil, fmt.Errorf("Error response from daemon: %s", strings.TrimSpace(string(b)))
		}
		return resp.Body, nil
	}
	body := src.stream
	if body == nil {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(tarContext(pw, src.dir, src.excludes, src.extra)) }()
		defer pr.Close()
		body = pr
	}
	if secrets != "" {
		sc, err := client.New(client.WithHost(host), client.WithAPIVersionNegotiation(),
			client.WithHTTPHeaders(map[string]string{secretsHeader: secrets}))
		if err != nil {
			return nil, err
		}
		c = sc
	}
	res, err := c.ImageBuild(ctx, body, opts)
	if err != nil {
		return nil, err
	}
	return res.Body, nil
}

func isTar(b []byte) bool {
	if len(b) > 262 && string(b[257:262]) == "ustar" {
		return true
	}
	// gzip, bzip2, xz, zstd compressed contexts
	return bytes.HasPrefix(b, []byte{0x1f, 0x8b}) || bytes.HasPrefix(b, []byte("BZh")) ||
		bytes.HasPrefix(b, []byte{0xfd, '7', 'z', 'X', 'Z'}) || bytes.HasPrefix(b, []byte{0x28, 0xb5, 0x2f, 0xfd})
}

// readSecrets reads --secret id=ID[,src=PATH|,env=VAR] values.
func readSecrets(specs []string) (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, s := range specs {
		var id, src, env string
		for _, f := range strings.Split(s, ",") {
			k, v, ok := strings.Cut(f, "=")
			if !ok {
				return nil, fmt.Errorf("invalid secret %q: want id=ID,src=PATH or id=ID,env=VAR", s)
			}
			switch strings.ToLower(k) {
			case "id":
				id = v
			case "src", "source":
				src = v
			case "env":
				env = v
			case "type":
				if v != "file" && v != "env" {
					return nil, fmt.Errorf("invalid secret type %q", v)
				}
			default:
				return nil, fmt.Errorf("invalid secret %q: unexpected key %q", s, k)
			}
		}
		if id == "" {
			return nil, fmt.Errorf("invalid secret %q: id is required", s)
		}
		switch {
		case src != "":
			b, err := os.ReadFile(src)
			if err != nil {
				return nil, fmt.Errorf("secret %s: %w", id, err)
			}
			out[id] = b
		case env != "":
			v, ok := os.LookupEnv(env)
			if !ok {
				return nil, fmt.Errorf("secret %s: environment variable %s is not set", id, env)
			}
			out[id] = []byte(v)
		default:
			// Docker's default: the environment variable named like the ID.
			if v, ok := os.LookupEnv(id); ok {
				out[id] = []byte(v)
			} else {
				return nil, fmt.Errorf("secret %s: give src=PATH or env=VAR", id)
			}
		}
	}
	return out, nil
}
