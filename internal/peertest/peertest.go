// Package peertest tells tests whether a peer tool (dockerd through the
// docker CLI, podman, ...) answers on this machine. A test that needs a
// peer skips when it does not answer: an installed binary is not enough,
// since a daemon may be stopped (after a reboot, on a fresh CI machine) or
// a tool may be set up wrong, and a hung daemon must not hang the test.
package peertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Timeout is how long a peer has to answer.
const Timeout = 30 * time.Second

// Answers runs argv (with env added to the environment) and returns nil
// when it exits 0 within Timeout; otherwise an error with its output.
func Answers(env []string, argv ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		return fmt.Errorf("%s: no answer within %s", strings.Join(argv, " "), Timeout)
	}
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), err, bytesTrim(out))
		}
		return fmt.Errorf("%s: %w", strings.Join(argv, " "), err)
	}
	return nil
}

// Require skips t unless argv answers (see Answers); what names the peer
// in the skip message.
func Require(t testing.TB, what string, env []string, argv ...string) {
	t.Helper()
	if err := Answers(env, argv...); err != nil {
		t.Skipf("%s does not answer here (hack/install-peers.sh sets the peers up): %v", what, err)
	}
}

func bytesTrim(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}
