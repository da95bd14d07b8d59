package container

import (
	"context"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"
	"golang.org/x/term"

	"github.com/berth-project/berth/internal/cli/command"
)

// streamOpts describe how a hijacked connection maps to our stdio.
type streamOpts struct {
	stdin bool
	tty   bool
}

// pumpStreams copies the hijacked connection to stdout/stderr (raw with a
// terminal, demultiplexed without) and stdin to it, until the output
// ends. With a terminal on our side, it is put in raw mode meanwhile.
func pumpStreams(ctx context.Context, cli *command.CLI, resp client.HijackedResponse, o streamOpts, resize func(h, w uint)) error {
	if o.tty {
		if f, ok := cli.StdinFile(); ok && term.IsTerminal(int(f.Fd())) {
			if old, err := term.MakeRaw(int(f.Fd())); err == nil {
				defer term.Restore(int(f.Fd()), old)
			}
			if resize != nil {
				monitorSize(ctx, f, resize)
			}
		}
	}
	var once sync.Once
	closeWrite := func() { once.Do(func() { resp.CloseWrite() }) }
	if o.stdin {
		go func() {
			io.Copy(resp.Conn, cli.In)
			closeWrite()
		}()
	} else {
		closeWrite()
	}
	var err error
	if o.tty {
		_, err = io.Copy(cli.Out, resp.Reader)
	} else {
		_, err = stdcopy.StdCopy(cli.Out, cli.Err, resp.Reader)
	}
	if err != nil && err != io.EOF {
		return err
	}
	return nil
}

// monitorSize sends the terminal size now and on every SIGWINCH.
func monitorSize(ctx context.Context, f *os.File, resize func(h, w uint)) {
	send := func() {
		if w, h, err := term.GetSize(int(f.Fd())); err == nil {
			resize(uint(h), uint(w))
		}
	}
	send()
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGWINCH)
	go func() {
		defer signal.Stop(ch)
		for {
			select {
			case <-ch:
				send()
			case <-ctx.Done():
				return
			}
		}
	}()
}
