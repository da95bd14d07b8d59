package builder

import (
	"archive/tar"
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// readIgnore returns the exclude patterns for a build: the Dockerfile's own
// <Dockerfile>.dockerignore when it exists next to it, else the context's
// .dockerignore.
func readIgnore(contextDir, dockerfile string) ([]string, error) {
	candidates := []string{}
	if dockerfile != "" {
		candidates = append(candidates, dockerfile+".dockerignore")
	}
	candidates = append(candidates, filepath.Join(contextDir, ".dockerignore"))
	for _, p := range candidates {
		f, err := os.Open(p)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		defer f.Close()
		pats, err := ignorefile.ReadAll(f)
		if err != nil {
			return nil, fmt.Errorf("error reading %s: %w", p, err)
		}
		return pats, nil
	}
	return nil, nil
}

// trimBuildFiles drops patterns that would exclude the Dockerfile or
// .dockerignore: the daemon needs them whatever the patterns say (as the
// docker CLI does).
func trimBuildFiles(excludes []string, dockerfileRel string) []string {
	var out []string
	for _, p := range excludes {
		pm, err := patternmatcher.New([]string{p})
		if err != nil {
			out = append(out, p)
			continue
		}
		if m, _ := pm.MatchesOrParentMatches(filepath.ToSlash(dockerfileRel)); m && !strings.HasPrefix(p, "!") {
			continue
		}
		if m, _ := pm.MatchesOrParentMatches(".dockerignore"); m && !strings.HasPrefix(p, "!") {
			continue
		}
		out = append(out, p)
	}
	return out
}

// walkContext calls fn with the tar header of every file of the context
// directory that the patterns do not exclude (moby/patternmatcher
// semantics, with "!" exceptions), in walk order, owned by root like the
// docker CLI sends them; p is the file's path. Sockets are left out.
func walkContext(dir string, excludes []string, fn func(p string, hdr *tar.Header) error) error {
	pm, err := patternmatcher.New(excludes)
	if err != nil {
		return fmt.Errorf("invalid .dockerignore pattern: %w", err)
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("error checking context: %w", err)
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		if len(excludes) > 0 {
			skip, err := pm.MatchesOrParentMatches(rel)
			if err != nil {
				return err
			}
			if skip {
				if d.IsDir() && !hasExceptionsBelow(pm, rel) {
					return filepath.SkipDir
				}
				return nil
			}
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		switch {
		case info.Mode()&os.ModeSymlink != 0:
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		case info.Mode()&os.ModeSocket != 0:
			return nil
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		hdr.Name = rel
		if info.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
		hdr.AccessTime, hdr.ChangeTime = time.Time{}, time.Time{}
		hdr.ModTime = hdr.ModTime.Truncate(time.Second)
		return fn(p, hdr)
	})
}

// openContextFile opens a regular file of the context for sending.
func openContextFile(p string, hdr *tar.Header) (*os.File, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("error checking context: can't open %s: %w", hdr.Name, err)
	}
	return f, nil
}

// tarContext writes the context directory as a tar to w (see
// walkContext). extra files (a Dockerfile from outside the context) are
// added at the end.
func tarContext(w io.Writer, dir string, excludes []string, extra map[string][]byte) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	tw := tar.NewWriter(bw)
	buf := make([]byte, 256<<10)
	err := walkContext(dir, excludes, func(p string, hdr *tar.Header) error {
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if hdr.Typeflag != tar.TypeReg {
			return nil
		}
		f, err := openContextFile(p, hdr)
		if err != nil {
			return err
		}
		defer f.Close()
		n, err := io.CopyBuffer(tw, f, buf)
		if err != nil {
			return err
		}
		if n != hdr.Size {
			return fmt.Errorf("%s changed while it was sent", hdr.Name)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for name, data := range extra {
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o600, Size: int64(len(data))}); err != nil {
			return err
		}
		if _, err := tw.Write(data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return bw.Flush()
}

// hasExceptionsBelow reports whether a "!" pattern may re-include
// something under the excluded directory dir.
func hasExceptionsBelow(pm *patternmatcher.PatternMatcher, dir string) bool {
	if !pm.Exclusions() {
		return false
	}
	for _, p := range pm.Patterns() {
		if !p.Exclusion() {
			continue
		}
		if strings.HasPrefix(p.String()+"/", dir+"/") || strings.ContainsAny(p.String(), "*?[") {
			return true
		}
	}
	return false
}

func randomName() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}
