package image

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/berth-project/berth/internal/content"
)

// committer verifies, fsyncs and publishes ingests in the background, so
// that the disk flush of one file overlaps reading the next.
type committer struct {
	ctx  context.Context
	l    *loader
	jobs chan commitJob
	done chan struct{}
	mu   sync.Mutex
	err  error
}

type commitJob struct {
	name string
	f    archiveFile
	w    *content.Writer
}

func newCommitter(ctx context.Context, l *loader) *committer {
	c := &committer{ctx: ctx, l: l, jobs: make(chan commitJob, 4), done: make(chan struct{})}
	go c.run()
	return c
}

func (c *committer) run() {
	defer close(c.done)
	for j := range c.jobs {
		if c.failed() != nil {
			j.w.Close()
			c.l.s.cs.Abort(c.ctx, j.w.Ref())
			continue
		}
		d, err := j.w.Commit(c.ctx, nil)
		if err != nil && !errors.Is(err, content.ErrAlreadyExists) {
			c.setErr(fmt.Errorf("store %s: %w", j.name, err))
			continue
		}
		j.f.digest = d
		c.mu.Lock()
		c.l.files[j.name] = j.f
		c.mu.Unlock()
		if err == nil {
			c.l.early.offer(d, j.f.compression)
		}
	}
}

func (c *committer) failed() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *committer) setErr(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = err
	}
}

// commit queues w; it returns the first error of an earlier commit.
func (c *committer) commit(name string, f archiveFile, w *content.Writer) error {
	if err := c.failed(); err != nil {
		w.Close()
		c.l.s.cs.Abort(c.ctx, w.Ref())
		return err
	}
	c.jobs <- commitJob{name: name, f: f, w: w}
	return nil
}

func (c *committer) record(name string, f archiveFile) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.l.files[name] = f
}

// wait drains the queue and returns the first error.
func (c *committer) wait() error {
	close(c.jobs)
	<-c.done
	return c.failed()
}
