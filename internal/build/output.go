package build

import (
	"bytes"
	"fmt"
	"io"
	"sync"
)

// orderedOutput keeps the progress of stages that run in parallel in
// Dockerfile order: the first unfinished stage writes through, the others
// are held back and written when every stage before them has finished.
// The text reads like a sequential build while stages overlap.
type orderedOutput struct {
	out   *syncWriter
	mu    sync.Mutex
	order []int // stage indexes in Dockerfile order
	front int   // position in order of the stage that writes through
	done  map[int]bool
	held  map[int]*bytes.Buffer
}

func newOrderedOutput(out *syncWriter, order []int) *orderedOutput {
	o := &orderedOutput{out: out, order: order, done: map[int]bool{}, held: map[int]*bytes.Buffer{}}
	for _, i := range order {
		o.held[i] = &bytes.Buffer{}
	}
	return o
}

// stage returns the writer of stage i.
func (o *orderedOutput) stage(i int) io.Writer { return stageWriter{o: o, i: i} }

type stageWriter struct {
	o *orderedOutput
	i int
}

func (w stageWriter) Write(p []byte) (int, error) {
	o := w.o
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.front < len(o.order) && o.order[o.front] == w.i {
		return o.out.Write(p)
	}
	return o.held[w.i].Write(p)
}

// finish marks stage i done and lets the next stages through.
func (o *orderedOutput) finish(i int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.done[i] = true
	for o.front < len(o.order) && o.done[o.order[o.front]] {
		o.front++
		if o.front < len(o.order) {
			next := o.order[o.front]
			o.out.Write(o.held[next].Bytes())
			o.held[next].Reset()
		}
	}
}

// flush writes whatever is held (after a failure), in order.
func (o *orderedOutput) flush() {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, i := range o.order[min(o.front+1, len(o.order)):] {
		o.out.Write(o.held[i].Bytes())
		o.held[i].Reset()
	}
	o.front = len(o.order)
}

func printTo(w io.Writer, format string, a ...any) { fmt.Fprintf(w, format, a...) }
