package builder

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/moby/moby/client"
	"golang.org/x/term"

	"github.com/berth-project/berth/internal/archive"
	"github.com/berth-project/berth/internal/cli/command"
)

// exportSpec is one --output: type=docker|oci|tar|local,dest=PATH.
type exportSpec struct {
	typ  string
	dest string
}

func parseOutputs(specs []string) ([]exportSpec, error) {
	var out []exportSpec
	for _, s := range specs {
		e := exportSpec{}
		if !strings.Contains(s, "=") {
			// "-o DIR" is type=local,dest=DIR; "-o -" a tar on stdout.
			e.typ, e.dest = "local", s
			if s == "-" {
				e.typ = "tar"
			}
			out = append(out, e)
			continue
		}
		for _, f := range strings.Split(s, ",") {
			k, v, _ := strings.Cut(f, "=")
			switch strings.ToLower(k) {
			case "type":
				e.typ = v
			case "dest":
				e.dest = v
			case "name", "push", "compression", "oci-mediatypes":
				// image names come from -t; the rest has no meaning here
			default:
				return nil, fmt.Errorf("invalid output %q: unexpected key %q", s, k)
			}
		}
		switch e.typ {
		case "docker", "oci", "tar", "local":
		case "image", "moby":
			continue // the default: the image is stored in the daemon
		default:
			return nil, fmt.Errorf("invalid output %q: type must be docker, oci, tar, local or image", s)
		}
		if e.dest == "" && e.typ == "local" {
			return nil, fmt.Errorf("invalid output %q: dest is required for type=local", s)
		}
		out = append(out, e)
	}
	return out, nil
}

// export writes the built image id as e asks: the daemon's image archive
// (docker, oci), or its root filesystem flattened from the layers (tar,
// local).
func export(ctx context.Context, c *client.Client, cli *command.CLI, id string, e exportSpec) error {
	var w io.Writer
	switch {
	case e.typ == "local":
	case e.dest == "" || e.dest == "-":
		if f, ok := cli.Out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			return fmt.Errorf("refusing to write the %s output to a terminal: give dest=FILE or redirect stdout", e.typ)
		}
		w = cli.Out
	default:
		f, err := os.Create(e.dest)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	rc, err := c.ImageSave(ctx, []string{id})
	if err != nil {
		return fmt.Errorf("export %s: %w", e.typ, err)
	}
	defer rc.Close()
	if e.typ == "docker" || e.typ == "oci" {
		_, err := io.Copy(w, rc)
		return err
	}
	tmp, err := os.MkdirTemp("", "berth-export-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := spoolFiles(rc, filepath.Join(tmp, "archive")); err != nil {
		return fmt.Errorf("export: read image archive: %w", err)
	}
	root := e.dest
	if e.typ == "tar" {
		root = filepath.Join(tmp, "rootfs")
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	if err := flatten(ctx, filepath.Join(tmp, "archive"), root); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if e.typ == "tar" {
		return archive.Tar(ctx, root, w)
	}
	return nil
}

// spoolFiles writes the regular files of an image archive under dir.
func spoolFiles(r io.Reader, dir string) error {
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		p := filepath.Join(dir, filepath.FromSlash(path.Clean("/"+hdr.Name)))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return err
		}
		f, err := os.Create(p)
		if err != nil {
			return err
		}
		_, err = io.Copy(f, tr)
		f.Close()
		if err != nil {
			return err
		}
	}
}

// flatten applies the layers named by the archive's manifest.json into root.
func flatten(ctx context.Context, dir, root string) error {
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return fmt.Errorf("image archive has no manifest.json: %w", err)
	}
	var man []struct{ Layers []string }
	if err := json.Unmarshal(b, &man); err != nil || len(man) != 1 {
		return fmt.Errorf("image archive: unexpected manifest.json")
	}
	for _, l := range man[0].Layers {
		f, err := os.Open(filepath.Join(dir, filepath.FromSlash(path.Clean("/"+l))))
		if err != nil {
			return err
		}
		dec, err := archive.Decompress(f)
		if err != nil {
			f.Close()
			return err
		}
		_, _, err = archive.Apply(ctx, root, dec, archive.ApplyOptions{})
		dec.Close()
		f.Close()
		if err != nil {
			return fmt.Errorf("apply layer %s: %w", l, err)
		}
	}
	return nil
}
