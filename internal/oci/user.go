package oci

import (
	"bufio"
	"os"
	"strconv"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-project/berth/internal/errdefs"
)

// WithUser resolves user ("name", "uid", "name:group", "uid:gid") against
// the /etc/passwd and /etc/group files inside rootfs, and sets the
// process's uid, gid and supplementary groups, and HOME unless set.
func WithUser(rootfs, user string) SpecOpt {
	return func(s *specs.Spec) error {
		u, home, err := ResolveUser(rootfs, user)
		if err != nil {
			return err
		}
		s.Process.User = u
		if home != "" {
			s.Process.Env = MergeEnv([]string{"HOME=" + home}, s.Process.Env)
		}
		return nil
	}
}

// ResolveUser resolves user inside rootfs; see WithUser.
func ResolveUser(rootfs, user string) (specs.User, string, error) {
	name, group, hasGroup := strings.Cut(user, ":")
	passwd := readDB(rootfs, "/etc/passwd")
	groups := readDB(rootfs, "/etc/group")
	var u specs.User
	home := "/"
	switch {
	case name == "":
		name = "0"
		fallthrough
	default:
		found := false
		for _, f := range passwd {
			if len(f) < 6 {
				continue
			}
			if f[0] == name || f[2] == name {
				uid, err1 := strconv.ParseUint(f[2], 10, 32)
				gid, err2 := strconv.ParseUint(f[3], 10, 32)
				if err1 != nil || err2 != nil {
					continue
				}
				u.UID, u.GID, home, name, found = uint32(uid), uint32(gid), f[5], f[0], true
				break
			}
		}
		if !found {
			uid, err := strconv.ParseUint(name, 10, 32)
			if err != nil {
				return u, "", errdefs.InvalidArgumentf("unable to find user %s: no matching entries in passwd file", name)
			}
			u.UID, u.GID = uint32(uid), uint32(uid)
			if user == "" || uid == 0 {
				u.GID = 0
				home = "/root"
			}
		}
	}
	if hasGroup {
		gid, err := lookupGroup(groups, group)
		if err != nil {
			return u, "", err
		}
		u.GID = gid
	} else {
		for _, f := range groups {
			if len(f) < 4 || f[3] == "" {
				continue
			}
			for _, m := range strings.Split(f[3], ",") {
				if m == name {
					if gid, err := strconv.ParseUint(f[2], 10, 32); err == nil && uint32(gid) != u.GID {
						u.AdditionalGids = append(u.AdditionalGids, uint32(gid))
					}
				}
			}
		}
	}
	return u, home, nil
}

func lookupGroup(groups [][]string, group string) (uint32, error) {
	for _, f := range groups {
		if len(f) >= 3 && (f[0] == group || f[2] == group) {
			if gid, err := strconv.ParseUint(f[2], 10, 32); err == nil {
				return uint32(gid), nil
			}
		}
	}
	gid, err := strconv.ParseUint(group, 10, 32)
	if err != nil {
		return 0, errdefs.InvalidArgumentf("unable to find group %s: no matching entries in group file", group)
	}
	return uint32(gid), nil
}

// readDB reads a colon-separated file of rootfs, resolving symlinks inside
// rootfs; a missing file reads as empty.
func readDB(rootfs, name string) [][]string {
	p, err := securejoin.SecureJoin(rootfs, name)
	if err != nil {
		return nil
	}
	f, err := os.Open(p)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out [][]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, strings.Split(line, ":"))
	}
	return out
}
