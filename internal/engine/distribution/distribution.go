// Package distribution holds the engine's registry use cases: pull, push
// and login, reporting progress as Docker's JSON message stream.
package distribution

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	eventtypes "github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/api/types/registry"

	"github.com/berth-project/berth/internal/distribution"
	"github.com/berth-project/berth/internal/distribution/credentials"
	"github.com/berth-project/berth/internal/engine/events"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/image"
	"github.com/berth-project/berth/internal/image/platform"
	"github.com/berth-project/berth/internal/image/reference"
	"github.com/berth-project/berth/internal/snapshot"
)

// Config configures the service.
type Config struct {
	Store       *image.Store
	Snapshotter snapshot.Snapshotter
	// Events receives image pull and push events (nil: none).
	Events *events.Bus
	// Client options: mirrors, insecure registries, certificates.
	Client distribution.Options
}

// Service pulls and pushes images and checks logins.
type Service struct {
	store  *image.Store
	sn     snapshot.Snapshotter
	events *events.Bus
	client *distribution.Client
}

// New returns the service.
func New(cfg Config) *Service {
	if cfg.Client.UserAgent == "" {
		cfg.Client.UserAgent = "berth"
	}
	return &Service{store: cfg.Store, sn: cfg.Snapshotter, events: cfg.Events, client: distribution.New(cfg.Client)}
}

// stream writes progress events as JSON messages, one per line.
type stream struct {
	mu  sync.Mutex
	out io.Writer
	err error
}

func (s *stream) send(m jsonstream.Message) {
	b, err := json.Marshal(m)
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		_, s.err = s.out.Write(append(b, '\r', '\n'))
	}
}

func (s *stream) progress(e distribution.Event) {
	m := jsonstream.Message{ID: e.ID, Status: e.Status}
	if e.Total > 0 || e.Current > 0 {
		m.Progress = &jsonstream.Progress{Current: e.Current, Total: e.Total}
	}
	s.send(m)
}

// PullOptions are the parameters of a pull.
type PullOptions struct {
	// Platform is "os/arch[/variant]", or "" for this host's.
	Platform string
	// RegistryAuth is the X-Registry-Auth header, "" for none.
	RegistryAuth string
}

// authAndName decodes a request's X-Registry-Auth header and parses its
// reference; either failing is the client's error.
func authAndName(header, ref string) (registry.AuthConfig, reference.Named, error) {
	auth, err := credentials.DecodeHeader(header)
	if err != nil {
		return registry.AuthConfig{}, nil, errdefs.InvalidArgument(err)
	}
	named, err := reference.ParseNamed(ref)
	if err != nil {
		return registry.AuthConfig{}, nil, errdefs.InvalidArgument(err)
	}
	return auth, named, nil
}

// Pull pulls ref (name:tag, name@digest, or a name alone for all its
// tags) and writes the progress to out.
func (s *Service) Pull(ctx context.Context, ref string, opts PullOptions, out io.Writer) error {
	auth, named, err := authAndName(opts.RegistryAuth, ref)
	if err != nil {
		return err
	}
	po := distribution.PullOptions{Auth: auth}
	if opts.Platform != "" {
		p, err := platform.Parse(opts.Platform)
		if err != nil {
			return err
		}
		po.Platform = &p
	}
	st := &stream{out: out}
	po.Progress = st.progress
	refs := []string{named.String()}
	if reference.Tag(named) == "" && reference.Digest(named) == "" {
		// A name alone: every tag (docker pull --all-tags).
		repo, err := s.client.Repository(named, auth, false)
		if err != nil {
			return err
		}
		tags, err := repo.Tags(ctx)
		if err != nil {
			return err
		}
		if len(tags) == 0 {
			return errdefs.NotFoundf("repository %s has no tags", reference.FamiliarName(named))
		}
		refs = refs[:0]
		for _, t := range tags {
			tn, err := reference.WithTag(named, t)
			if err != nil {
				continue
			}
			refs = append(refs, tn.String())
		}
	}
	for _, r := range refs {
		res, err := s.client.Pull(ctx, s.store, s.sn, r, po)
		if err != nil {
			return err
		}
		s.publish(eventtypes.ActionPull, res.Name)
	}
	return nil
}

// PushOptions are the parameters of a push.
type PushOptions struct {
	RegistryAuth string
}

// Push pushes ref (name:tag, or a name alone for all its local tags) and
// writes the progress to out.
func (s *Service) Push(ctx context.Context, ref string, opts PushOptions, out io.Writer) error {
	auth, named, err := authAndName(opts.RegistryAuth, ref)
	if err != nil {
		return err
	}
	refs := []string{named.String()}
	if reference.Tag(named) == "" && reference.Digest(named) == "" {
		// A name alone: every local tag of it (docker push --all-tags).
		all, err := s.store.List(ctx)
		if err != nil {
			return err
		}
		refs = refs[:0]
		for _, img := range all {
			n, err := reference.ParseNamed(img.Name)
			if err == nil && n.Name() == named.Name() && reference.Tag(n) != "" {
				refs = append(refs, n.String())
			}
		}
		if len(refs) == 0 {
			return errdefs.NotFoundf("An image does not exist locally with the tag: %s", reference.FamiliarName(named))
		}
	}
	st := &stream{out: out}
	for _, r := range refs {
		res, err := s.client.Push(ctx, s.store, r, distribution.PushOptions{Auth: auth, Progress: st.progress})
		if err != nil {
			return err
		}
		aux, _ := json.Marshal(map[string]any{"Tag": res.Tag, "Digest": res.Digest.String(), "Size": res.Size})
		raw := json.RawMessage(aux)
		st.send(jsonstream.Message{Aux: &raw})
		s.publish(eventtypes.ActionPush, r)
	}
	return nil
}

func (s *Service) publish(action eventtypes.Action, name string) {
	if s.events != nil {
		s.events.Publish(eventtypes.ImageEventType, action, reference.Familiar(name), map[string]string{"name": reference.Familiar(name)})
	}
}

// Login checks credentials against a registry (docker login) and returns
// Docker's answer.
func (s *Service) Login(ctx context.Context, auth registry.AuthConfig) (registry.AuthResponse, error) {
	server := strings.TrimSpace(auth.ServerAddress)
	domain := distribution.DockerHub
	if server != "" && credentials.ServerKey(server) != credentials.IndexServer {
		domain = credentials.ServerKey(server)
	}
	if auth.Username == "" && auth.IdentityToken == "" {
		return registry.AuthResponse{}, errdefs.InvalidArgumentf("a user name is required to log in")
	}
	if err := s.client.Login(ctx, domain, auth); err != nil {
		var re *distribution.Error
		if errors.As(err, &re) {
			return registry.AuthResponse{}, errdefs.Unauthorized(fmt.Errorf("login to %s: %w", domain, err))
		}
		return registry.AuthResponse{}, err
	}
	return registry.AuthResponse{Status: "Login Succeeded"}, nil
}
