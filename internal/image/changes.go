package image

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ApplyChanges applies Dockerfile instructions, as `docker import
// --change` and `docker commit --change` take them, to a run config:
// CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD, SHELL,
// STOPSIGNAL, USER, VOLUME and WORKDIR.
func ApplyChanges(cfg *RunConfig, changes []string) error {
	for _, ch := range changes {
		if err := applyChange(cfg, ch); err != nil {
			return fmt.Errorf("change %q: %w", ch, err)
		}
	}
	return nil
}

func applyChange(cfg *RunConfig, ch string) error {
	ch = strings.TrimSpace(ch)
	instr, rest, _ := strings.Cut(ch, " ")
	rest = strings.TrimSpace(rest)
	if rest == "" {
		return fmt.Errorf("%s needs an argument: %w", instr, ErrInvalidArgument)
	}
	switch strings.ToUpper(instr) {
	case "CMD":
		cfg.Cmd = commandForm(rest, cfg.Shell)
	case "ENTRYPOINT":
		cfg.Entrypoint = commandForm(rest, cfg.Shell)
	case "SHELL":
		arr, ok := jsonArray(rest)
		if !ok {
			return fmt.Errorf("SHELL requires a JSON array: %w", ErrInvalidArgument)
		}
		cfg.Shell = arr
	case "ENV":
		pairs, err := keyValues(rest, true)
		if err != nil {
			return err
		}
		for _, kv := range pairs {
			cfg.Env = setEnv(cfg.Env, kv[0], kv[1])
		}
	case "LABEL":
		pairs, err := keyValues(rest, false)
		if err != nil {
			return err
		}
		if cfg.Labels == nil {
			cfg.Labels = map[string]string{}
		}
		for _, kv := range pairs {
			cfg.Labels[kv[0]] = kv[1]
		}
	case "EXPOSE":
		words, err := splitWords(rest)
		if err != nil {
			return err
		}
		if cfg.ExposedPorts == nil {
			cfg.ExposedPorts = map[string]struct{}{}
		}
		for _, w := range words {
			port, proto, _ := strings.Cut(strings.ToLower(w), "/")
			if proto == "" {
				proto = "tcp"
			}
			if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || (proto != "tcp" && proto != "udp" && proto != "sctp") {
				return fmt.Errorf("invalid port %q: %w", w, ErrInvalidArgument)
			}
			cfg.ExposedPorts[port+"/"+proto] = struct{}{}
		}
	case "VOLUME":
		vols, ok := jsonArray(rest)
		if !ok {
			var err error
			if vols, err = splitWords(rest); err != nil {
				return err
			}
		}
		if cfg.Volumes == nil {
			cfg.Volumes = map[string]struct{}{}
		}
		for _, v := range vols {
			cfg.Volumes[v] = struct{}{}
		}
	case "WORKDIR":
		cfg.WorkingDir = rest
	case "USER":
		cfg.User = rest
	case "STOPSIGNAL":
		cfg.StopSignal = rest
	case "ONBUILD":
		cfg.OnBuild = append(cfg.OnBuild, rest)
	case "HEALTHCHECK":
		hc, err := parseHealthcheck(rest, cfg.Shell)
		if err != nil {
			return err
		}
		cfg.Healthcheck = hc
	default:
		return fmt.Errorf("unsupported instruction %q: %w", instr, ErrInvalidArgument)
	}
	return nil
}

func jsonArray(s string) ([]string, bool) {
	if !strings.HasPrefix(s, "[") {
		return nil, false
	}
	var arr []string
	if json.Unmarshal([]byte(s), &arr) != nil {
		return nil, false
	}
	return arr, true
}

func commandForm(s string, shell []string) []string {
	if arr, ok := jsonArray(s); ok {
		return arr
	}
	if len(shell) == 0 {
		shell = []string{"/bin/sh", "-c"}
	}
	return append(append([]string(nil), shell...), s)
}

func setEnv(env []string, k, v string) []string {
	for i, e := range env {
		if name, _, _ := strings.Cut(e, "="); name == k {
			env[i] = k + "=" + v
			return env
		}
	}
	return append(env, k+"="+v)
}

// keyValues parses "k=v k2='v 2'" or, for ENV, the legacy "k v w".
func keyValues(s string, legacy bool) ([][2]string, error) {
	words, err := splitWords(s)
	if err != nil {
		return nil, err
	}
	if legacy && len(words) > 0 && !strings.Contains(words[0], "=") {
		k, v, _ := strings.Cut(s, " ")
		return [][2]string{{k, strings.TrimSpace(v)}}, nil
	}
	var out [][2]string
	for _, w := range words {
		k, v, ok := strings.Cut(w, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%q is not key=value: %w", w, ErrInvalidArgument)
		}
		out = append(out, [2]string{k, v})
	}
	return out, nil
}

// splitWords splits on blanks, honouring single and double quotes and
// backslash escapes.
func splitWords(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	inWord := false
	var quote rune
	escaped := false
	for _, r := range s {
		switch {
		case escaped:
			cur.WriteRune(r)
			escaped = false
		case r == '\\' && quote != '\'':
			escaped, inWord = true, true
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 || escaped {
		return nil, fmt.Errorf("unterminated quote in %q: %w", s, ErrInvalidArgument)
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out, nil
}

func parseHealthcheck(s string, shell []string) (*HealthConfig, error) {
	hc := &HealthConfig{}
	for strings.HasPrefix(s, "--") {
		flag, rest, _ := strings.Cut(s, " ")
		s = strings.TrimSpace(rest)
		name, val, ok := strings.Cut(strings.TrimPrefix(flag, "--"), "=")
		if !ok {
			return nil, fmt.Errorf("HEALTHCHECK flag %q needs a value: %w", flag, ErrInvalidArgument)
		}
		if name == "retries" {
			n, err := strconv.Atoi(val)
			if err != nil {
				return nil, fmt.Errorf("HEALTHCHECK --retries: %v: %w", err, ErrInvalidArgument)
			}
			hc.Retries = n
			continue
		}
		d, err := time.ParseDuration(val)
		if err != nil {
			return nil, fmt.Errorf("HEALTHCHECK --%s: %v: %w", name, err, ErrInvalidArgument)
		}
		switch name {
		case "interval":
			hc.Interval = int64(d)
		case "timeout":
			hc.Timeout = int64(d)
		case "start-period":
			hc.StartPeriod = int64(d)
		case "start-interval":
			hc.StartInterval = int64(d)
		default:
			return nil, fmt.Errorf("HEALTHCHECK flag --%s: %w", name, ErrInvalidArgument)
		}
	}
	kind, rest, _ := strings.Cut(s, " ")
	switch strings.ToUpper(kind) {
	case "NONE":
		hc.Test = []string{"NONE"}
	case "CMD":
		rest = strings.TrimSpace(rest)
		if arr, ok := jsonArray(rest); ok {
			hc.Test = append([]string{"CMD"}, arr...)
		} else if rest != "" {
			hc.Test = []string{"CMD-SHELL", rest}
		} else {
			return nil, fmt.Errorf("HEALTHCHECK CMD needs a command: %w", ErrInvalidArgument)
		}
	default:
		return nil, fmt.Errorf("HEALTHCHECK must be NONE or CMD: %w", ErrInvalidArgument)
	}
	return hc, nil
}
