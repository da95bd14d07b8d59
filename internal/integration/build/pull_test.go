package build

import (
	"bufio"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/integration/harness"
)

// startRegistry runs `berth registry serve` (this test binary) on a free
// loopback port and returns its host:port.
func startRegistry(t *testing.T) string {
	t.Helper()
	exe, _ := os.Executable()
	cmd := exec.Command(exe, "registry", "serve", "--addr", "127.0.0.1:0", "--root", t.TempDir())
	cmd.Env = append(os.Environ(), "BERTH_TEST_MAIN=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(syscall.SIGKILL); cmd.Wait() })
	found := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`url=https?://(127\.0\.0\.1:[0-9]+)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	}()
	select {
	case host := <-found:
		return host
	case <-time.After(60 * time.Second):
		t.Fatal("berth registry did not start within 60 s")
	}
	return ""
}

// TestFromPullsMissingImage: FROM of an image the daemon lacks pulls it.
func TestFromPullsMissingImage(t *testing.T) {
	d := harness.Start(t)
	host := startRegistry(t)
	ref := host + "/base/busybox:v1"
	d.Must("tag", "busybox", ref)
	d.Must("push", ref)
	d.Must("rmi", ref)
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM " + ref + "\nRUN echo pulled-base > /marker\nCMD [\"cat\", \"/marker\"]\n"})
	r := build(t, d, dir, "-t", "from-pulled")
	if out := d.Must("run", "--rm", "from-pulled"); out != "pulled-base" {
		t.Errorf("run: %q\nbuild output:\n%s", out, r.Stdout)
	}
	if r := d.Berth("", "", nil, "image", "inspect", ref); r.Code != 0 {
		t.Errorf("the pulled base is not in the store: %s", r)
	}
	// A missing image in no reachable registry: Docker's error.
	bad := writeContext(t, map[string]string{"Dockerfile": "FROM " + host + "/no/such:image\n"})
	if r := d.Berth("", "", nil, "build", bad); r.Code == 0 || !strings.Contains(r.Stderr, "no/such") {
		t.Errorf("missing base: %s", r)
	}
}
