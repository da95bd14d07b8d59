package image

import (
	"archive/tar"
	"bytes"
	"os"
	"testing"
)

// busyboxImage makes a runnable image from the host's static busybox, or
// skips when there is none.
func busyboxImage(t *testing.T, tags ...string) testImage {
	t.Helper()
	bin, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Skip("no /bin/busybox (apt-get install busybox-static)")
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755})
	tw.WriteHeader(&tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(bin))})
	tw.Write(bin)
	for _, l := range []string{"sh", "echo", "cat", "ls"} {
		tw.WriteHeader(&tar.Header{Name: "bin/" + l, Typeflag: tar.TypeSymlink, Linkname: "busybox"})
	}
	tw.WriteHeader(&tar.Header{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0o755})
	msg := []byte("hello from berth\n")
	tw.WriteHeader(&tar.Header{Name: "etc/motd", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(msg))})
	tw.Write(msg)
	tw.Close()
	return testImage{tags: tags, layers: [][]byte{buf.Bytes()}, cmd: []string{"/bin/cat", "/etc/motd"}}
}
