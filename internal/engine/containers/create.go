package containers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	eventtypes "github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/network"

	crec "github.com/berth-project/berth/internal/container"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/oci"
)

var validName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$`) }) // compiled on first use, not at every start

// CreateResult is the new container's ID and any warnings.
type CreateResult struct {
	ID       string
	Warnings []string
}

// Create makes a container record from the request: the image is
// resolved and its config merged in, volumes are acquired, nothing runs.
func (s *Service) Create(ctx context.Context, name string, cfg *container.Config, hc *container.HostConfig, nc *network.NetworkingConfig) (CreateResult, error) {
	if cfg == nil {
		return CreateResult{}, errdefs.InvalidArgumentf("config cannot be empty in order to create a container")
	}
	if hc == nil {
		hc = &container.HostConfig{}
	}
	generated := false
	if name != "" {
		if !validName().MatchString(name) {
			return CreateResult{}, errdefs.InvalidArgumentf("Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", name)
		}
		name = name[len(name)-len(trimSlash(name)):]
		if s.store.NameInUse(name) {
			other, _ := s.store.Get(name)
			id := ""
			if other != nil {
				id = other.ID
			}
			return CreateResult{}, errdefs.Conflictf("Conflict. The container name \"/%s\" is already in use by container \"%s\". You have to remove (or rename) that container to be able to reuse that name.", name, id)
		}
	} else {
		name, generated = s.generateName(), true
	}
	if err := validateHostConfig(hc); err != nil {
		return CreateResult{}, err
	}
	var endpoints map[string]*network.EndpointSettings
	var warnings []string
	if s.cfg.Network != nil {
		var err error
		if endpoints, warnings, err = s.cfg.Network.Validate(cfg, hc, nc); err != nil {
			return CreateResult{}, err
		}
	} else if hc.NetworkMode == "" {
		hc.NetworkMode = "none"
	}
	if cfg.Image == "" {
		return CreateResult{}, errdefs.InvalidArgumentf("no image specified")
	}
	img, err := s.images.Resolve(ctx, cfg.Image)
	if err != nil {
		return CreateResult{}, err
	}
	cfg = mergeImageConfig(cfg, img)
	args := append(append([]string(nil), cfg.Entrypoint...), cfg.Cmd...)
	if len(args) == 0 {
		return CreateResult{}, errdefs.InvalidArgumentf("no command specified")
	}
	rtName := hc.Runtime
	if rtName == "" {
		rtName = s.cfg.DefaultRuntime
	}
	if _, err := s.runtimeFor(&crec.Container{Runtime: rtName}); err != nil {
		return CreateResult{}, errdefs.InvalidArgument(err)
	}
	hc.Runtime = rtName
	if hc.LogConfig.Type == "" {
		hc.LogConfig.Type = "json-file"
	}
	if hc.Init != nil && *hc.Init && s.cfg.InitPath == "" {
		return CreateResult{}, errdefs.InvalidArgumentf("--init: the daemon has no init binary (see its log)")
	}
	id := newID()
	c := &crec.Container{
		ID:         id,
		Name:       trimSlash(name),
		Created:    time.Now().UTC(),
		Image:      cfg.Image,
		ImageID:    img.ID,
		Path:       args[0],
		Args:       args[1:],
		Config:     cfg,
		HostConfig: hc,
		Runtime:    rtName,
		State:      crec.NewState(),
		Dir:        filepath.Join(s.cfg.Root, id),
		Networks:   endpoints,
	}
	if hc.LogConfig.Type == "json-file" {
		c.LogPath = filepath.Join(c.Dir, id+"-json.log")
	}
	if err := os.MkdirAll(c.Dir, 0o710); err != nil {
		return CreateResult{}, fmt.Errorf("create container dir: %w", err)
	}
	mounts, err := s.setupMounts(ctx, c, img)
	if err != nil {
		os.RemoveAll(c.Dir)
		return CreateResult{}, err
	}
	c.Mounts = mounts
	err = s.store.Add(c)
	for i := 0; generated && errdefs.IsConflict(err) && i < 10; i++ {
		// Another create took the generated name meanwhile.
		c.Name = s.generateName()
		err = s.store.Add(c)
	}
	if err != nil {
		s.releaseMounts(ctx, c, true)
		os.RemoveAll(c.Dir)
		return CreateResult{}, err
	}
	s.emit(c, eventtypes.ActionCreate, nil)
	return CreateResult{ID: id, Warnings: warnings}, nil
}

func trimSlash(name string) string {
	for len(name) > 0 && name[0] == '/' {
		name = name[1:]
	}
	return name
}

// validateHostConfig rejects bad options before anything is created.
func validateHostConfig(hc *container.HostConfig) error {
	if hc.AutoRemove && !hc.RestartPolicy.IsNone() {
		return errdefs.InvalidArgumentf("can't create 'AutoRemove' container with restart policy")
	}
	switch hc.RestartPolicy.Name {
	case "", container.RestartPolicyDisabled, container.RestartPolicyAlways, container.RestartPolicyUnlessStopped:
		if hc.RestartPolicy.MaximumRetryCount != 0 {
			return errdefs.InvalidArgumentf("invalid restart policy: maximum retry count can only be used with 'on-failure'")
		}
	case container.RestartPolicyOnFailure:
		if hc.RestartPolicy.MaximumRetryCount < 0 {
			return errdefs.InvalidArgumentf("invalid restart policy: maximum retry count cannot be negative")
		}
	default:
		return errdefs.InvalidArgumentf("invalid restart policy: unknown policy '%s'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'", hc.RestartPolicy.Name)
	}
	if _, err := parseLogConfig(hc.LogConfig, DefaultLogMaxSize, DefaultLogMaxFiles); err != nil {
		return err
	}
	if _, err := oci.New(oci.WithResources(hc.Resources), oci.WithNetworkMode(hc.NetworkMode)); err != nil {
		return err
	}
	if _, err := parseSecurityOpts(hc.SecurityOpt); err != nil {
		return err
	}
	return nil
}

// mergeImageConfig fills what the request leaves open from the image, as
// Docker does at create time.
func mergeImageConfig(cfg *container.Config, img Image) *container.Config {
	c := *cfg
	ic := img.Config
	c.Env = oci.MergeEnv(ic.Env, cfg.Env)
	if len(c.Entrypoint) == 0 && len(c.Cmd) == 0 {
		c.Cmd = ic.Cmd
	}
	if c.Entrypoint == nil {
		c.Entrypoint = ic.Entrypoint
	}
	if c.WorkingDir == "" {
		c.WorkingDir = ic.WorkingDir
	}
	if c.User == "" {
		c.User = ic.User
	}
	if c.StopSignal == "" {
		c.StopSignal = ic.StopSignal
	}
	if img.Healthcheck != nil {
		if c.Healthcheck == nil {
			hc := *img.Healthcheck
			c.Healthcheck = &hc
		} else if len(c.Healthcheck.Test) == 0 {
			hc := *c.Healthcheck
			hc.Test = img.Healthcheck.Test
			c.Healthcheck = &hc
		}
	}
	if len(ic.Labels) > 0 {
		labels := map[string]string{}
		for k, v := range ic.Labels {
			labels[k] = v
		}
		for k, v := range cfg.Labels {
			labels[k] = v
		}
		c.Labels = labels
	}
	if len(ic.Volumes) > 0 {
		vols := map[string]struct{}{}
		for k := range ic.Volumes {
			vols[k] = struct{}{}
		}
		for k := range cfg.Volumes {
			vols[k] = struct{}{}
		}
		c.Volumes = vols
	}
	if len(ic.ExposedPorts) > 0 {
		ports := network.PortSet{}
		for p := range ic.ExposedPorts {
			if port, err := network.ParsePort(p); err == nil {
				ports[port] = struct{}{}
			}
		}
		for p := range cfg.ExposedPorts {
			ports[p] = struct{}{}
		}
		c.ExposedPorts = ports
	}
	if c.Labels == nil {
		c.Labels = map[string]string{}
	}
	return &c
}

func newID() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return hex.EncodeToString(b)
}
