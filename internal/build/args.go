package build

import (
	"sort"
	"strings"
	"sync"

	digest "github.com/opencontainers/go-digest"
)

// proxyArgs are usable in RUN without an ARG instruction (Docker's
// predefined args); they are left out of cache keys and history unless
// the Dockerfile declares them.
var proxyArgs = map[string]bool{
	"HTTP_PROXY": true, "http_proxy": true, "HTTPS_PROXY": true, "https_proxy": true,
	"FTP_PROXY": true, "ftp_proxy": true, "NO_PROXY": true, "no_proxy": true,
	"ALL_PROXY": true, "all_proxy": true,
}

// userArgs are the --build-arg values of a build, shared by its stages,
// with a record of which ones some ARG consumed.
type userArgs struct {
	values map[string]*string
	mu     sync.Mutex
	used   map[string]bool
}

func newUserArgs(v map[string]*string) *userArgs {
	return &userArgs{values: v, used: map[string]bool{}}
}

func (u *userArgs) lookup(name string) (string, bool) {
	v, ok := u.values[name]
	if !ok || v == nil {
		return "", false
	}
	return *v, true
}

func (u *userArgs) markUsed(name string) {
	u.mu.Lock()
	u.used[name] = true
	u.mu.Unlock()
}

// unused lists the build args no ARG declared (Docker warns about them).
func (u *userArgs) unused() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []string
	for k := range u.values {
		if !u.used[k] && !proxyArgs[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// argScope is the set of ARGs in effect in one stage (or before the first
// FROM): declared names with their values, in declaration order.
type argScope struct {
	user  *userArgs
	meta  map[string]*string // global ARGs before FROM (defaults, expanded)
	names []string
	vals  map[string]string
}

func newArgScope(user *userArgs, meta map[string]*string) *argScope {
	return &argScope{user: user, meta: meta, vals: map[string]string{}}
}

// declare handles `ARG name[=value]` (value already expanded): the user's
// --build-arg wins, then the value here, then the global ARG's default.
func (s *argScope) declare(name string, value *string) {
	v, ok := s.user.lookup(name)
	s.user.markUsed(name)
	if !ok {
		switch {
		case value != nil:
			v, ok = *value, true
		case s.meta != nil && s.meta[name] != nil:
			v, ok = *s.meta[name], true
		}
	}
	if !s.declared(name) {
		s.names = append(s.names, name)
	}
	// A declared arg without any value expands to nothing and stays out
	// of RUN's environment.
	if ok {
		s.vals[name] = v
	} else {
		delete(s.vals, name)
	}
}

func (s *argScope) declared(name string) bool {
	for _, n := range s.names {
		if n == name {
			return true
		}
	}
	return false
}

// env returns the args in effect as KEY=value, those overridden by the
// image env left out, followed by the predefined proxy args the user set
// (withProxies). Order: declaration order, proxies sorted.
func (s *argScope) env(imageEnv []string, withProxies bool) []string {
	var out []string
	for _, n := range s.names {
		v, ok := s.vals[n]
		if !ok || envHas(imageEnv, n) {
			continue
		}
		out = append(out, n+"="+v)
	}
	if withProxies {
		var px []string
		for n := range proxyArgs {
			if s.declared(n) {
				continue
			}
			if v, ok := s.user.lookup(n); ok {
				px = append(px, n+"="+v)
			}
		}
		sort.Strings(px)
		out = append(out, px...)
	}
	return out
}

// digests returns name -> digest of value of the declared args in effect,
// for cache records.
func (s *argScope) digests(imageEnv []string) map[string]digest.Digest {
	out := map[string]digest.Digest{}
	for _, n := range s.names {
		if v, ok := s.vals[n]; ok && !envHas(imageEnv, n) {
			out[n] = digest.FromString(v)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func envHas(env []string, name string) bool {
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k == name {
			return true
		}
	}
	return false
}

// envGet returns the value of name in a KEY=value list.
func envGet(env []string, name string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, _ := strings.Cut(env[i], "="); k == name {
			return v, true
		}
	}
	return "", false
}

// envSet replaces or appends name=value.
func envSet(env []string, name, value string) []string {
	for i, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k == name {
			out := append([]string(nil), env...)
			out[i] = name + "=" + value
			return out
		}
	}
	return append(append([]string(nil), env...), name+"="+value)
}
