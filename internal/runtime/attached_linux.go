package runtime

import (
	"context"

	"golang.org/x/sys/unix"
)

// RunAttached creates and starts container id, waits for its init to exit
// and deletes it, returning the init's exit code (128+signal when it was
// killed). Unlike Run it relays no signals, so a long-lived caller (the
// daemon running build steps) keeps its own signal handling; cancelling
// ctx kills the container instead.
func (r *Runtime) RunAttached(ctx context.Context, id string, o CreateOpts) (int, error) {
	c, err := r.create(id, o)
	if err != nil {
		return -1, err
	}
	c.parent.Close()
	if err := r.Start(id); err != nil {
		_ = r.Delete(id, true)
		_ = c.cmd.Wait()
		return -1, err
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			_ = r.Kill(id, unix.SIGKILL, true)
		case <-done:
		}
	}()
	_ = c.cmd.Wait()
	close(done)
	code := exitCode(c.cmd.ProcessState)
	if err := r.Delete(id, true); err != nil {
		return code, err
	}
	if err := ctx.Err(); err != nil {
		return code, err
	}
	return code, nil
}
