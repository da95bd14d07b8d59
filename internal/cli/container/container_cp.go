package container

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-project/berth/internal/cli/command"
)

func newCpCommand(cli *command.CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n  berth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
		Short: "Copy files/folders between a container and the local filesystem",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			srcC, srcP := splitCpArg(args[0])
			dstC, dstP := splitCpArg(args[1])
			switch {
			case srcC != "" && dstC == "":
				return copyFromContainer(cmd.Context(), cli, srcC, srcP, dstP)
			case srcC == "" && dstC != "":
				return copyToContainer(cmd.Context(), cli, srcP, dstC, dstP)
			default:
				return statusErr(1, "must specify exactly one container path (CONTAINER:PATH) and one local path")
			}
		},
	}
}

// splitCpArg splits "container:path"; a local path has no container.
func splitCpArg(arg string) (string, string) {
	if filepath.IsAbs(arg) || strings.HasPrefix(arg, ".") {
		return "", arg
	}
	c, p, ok := strings.Cut(arg, ":")
	if !ok {
		return "", arg
	}
	return c, p
}

func copyFromContainer(ctx context.Context, cli *command.CLI, ctr, src, dst string) error {
	c, err := cli.Client(ctx)
	if err != nil {
		return err
	}
	res, err := c.CopyFromContainer(ctx, ctr, client.CopyFromContainerOptions{SourcePath: src})
	if err != nil {
		return err
	}
	defer res.Content.Close()
	if dst == "-" {
		_, err := io.Copy(cli.Out, res.Content)
		return err
	}
	dir, rename := dst, ""
	if fi, err := os.Stat(dst); err != nil || !fi.IsDir() {
		dir, rename = filepath.Dir(dst), filepath.Base(dst)
	}
	return extractLocal(res.Content, dir, res.Stat.Name, rename)
}

// extractLocal unpacks a tar into dir, renaming its top-level entry from
// top to rename when rename is set.
func extractLocal(r io.Reader, dir, top, rename string) error {
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		name := path.Clean(hdr.Name)
		if rename != "" {
			if name == top {
				name = rename
			} else if strings.HasPrefix(name, top+"/") {
				name = rename + name[len(top):]
			}
		}
		if name == ".." || strings.HasPrefix(name, "../") || path.IsAbs(name) {
			return fmt.Errorf("invalid path in archive: %s", hdr.Name)
		}
		target := filepath.Join(dir, filepath.FromSlash(name))
		mode := os.FileMode(hdr.Mode).Perm()
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, mode|0o700); err != nil {
				return err
			}
		case tar.TypeSymlink:
			os.Remove(target)
			if err := os.Symlink(hdr.Linkname, target); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(target, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, mode)
			if err != nil {
				return err
			}
			if _, err := io.Copy(f, tr); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			os.Chmod(target, mode)
		}
		os.Lchown(target, hdr.Uid, hdr.Gid)
	}
}

func copyToContainer(ctx context.Context, cli *command.CLI, src, ctr, dst string) error {
	c, err := cli.Client(ctx)
	if err != nil {
		return err
	}
	if src == "-" {
		_, err := c.CopyToContainer(ctx, ctr, client.CopyToContainerOptions{DestinationPath: dst, Content: cli.In})
		return err
	}
	if _, err := os.Lstat(src); err != nil {
		return err
	}
	dir, name := dst, filepath.Base(src)
	st, err := c.ContainerStatPath(ctx, ctr, client.ContainerStatPathOptions{Path: dst})
	switch {
	case err == nil && st.Stat.Mode.IsDir():
	case err == nil || command.IsNotFound(err):
		if strings.HasSuffix(dst, "/") && err != nil {
			return fmt.Errorf("no such directory in container: %s", dst)
		}
		dir, name = path.Dir(dst), path.Base(dst)
	default:
		return err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeLocalTar(pw, src, name)) }()
	_, err = c.CopyToContainer(ctx, ctr, client.CopyToContainerOptions{DestinationPath: dir, Content: pr})
	pr.Close()
	return err
}

// writeLocalTar writes src as a tar whose top-level entry is name.
func writeLocalTar(w io.Writer, src, name string) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if fi.Mode()&os.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		hdr.Name = path.Join(name, filepath.ToSlash(rel))
		if fi.IsDir() {
			hdr.Name += "/"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.CopyN(tw, f, hdr.Size)
		return err
	})
	if err != nil {
		return err
	}
	return tw.Close()
}
