package oci

import (
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// WithArgs sets the process's argv.
func WithArgs(args ...string) SpecOpt {
	return func(s *specs.Spec) error {
		s.Process.Args = append([]string(nil), args...)
		return nil
	}
}

// WithEnv merges env (KEY=VALUE, later wins) into the process environment.
func WithEnv(env []string) SpecOpt {
	return func(s *specs.Spec) error {
		s.Process.Env = MergeEnv(s.Process.Env, env)
		return nil
	}
}

// MergeEnv returns base with each KEY=VALUE of over set, replacing keys
// already present and keeping order.
func MergeEnv(base, over []string) []string {
	out := append([]string(nil), base...)
	idx := map[string]int{}
	for i, kv := range out {
		idx[envKey(kv)] = i
	}
	for _, kv := range over {
		k := envKey(kv)
		if i, ok := idx[k]; ok {
			out[i] = kv
			continue
		}
		idx[k] = len(out)
		out = append(out, kv)
	}
	return out
}

func envKey(kv string) string {
	k, _, _ := strings.Cut(kv, "=")
	return k
}

// WithCwd sets the working directory (default "/").
func WithCwd(dir string) SpecOpt {
	return func(s *specs.Spec) error {
		if dir != "" {
			s.Process.Cwd = dir
		}
		return nil
	}
}

// WithTTY gives the process a terminal; TERM=xterm unless set.
func WithTTY(tty bool) SpecOpt {
	return func(s *specs.Spec) error {
		s.Process.Terminal = tty
		if tty {
			s.Process.Env = MergeEnv([]string{"TERM=xterm"}, s.Process.Env)
		}
		return nil
	}
}

// WithHostname sets the UTS hostname and HOSTNAME in the environment.
func WithHostname(name string) SpecOpt {
	return func(s *specs.Spec) error {
		s.Hostname = name
		s.Process.Env = MergeEnv([]string{"HOSTNAME=" + name}, s.Process.Env)
		return nil
	}
}

// WithNoNewPrivileges sets no_new_privs on the process.
func WithNoNewPrivileges(on bool) SpecOpt {
	return func(s *specs.Spec) error {
		s.Process.NoNewPrivileges = on
		return nil
	}
}
