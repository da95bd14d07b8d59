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
	c, rec, err := r.create(id, o)
	if err != nil {
		return -1, err
	}
	c.parent.Close()
	if err := r.start(rec); err != nil {
		_ = r.Delete(id, true)
		c.wait()
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
	ws := c.wait()
	close(done)
	code := exitCode(ws)
	if err := r.destroy(rec, Stopped); err != nil {
		return code, err
	}
	if err := ctx.Err(); err != nil {
		return code, err
	}
	return code, nil
}
