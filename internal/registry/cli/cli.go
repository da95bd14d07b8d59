// Package cli is `berth registry …`: serve an OCI distribution registry
// from a directory, and collect its garbage. It runs without the daemon.
package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/docker/go-units"
	"github.com/spf13/cobra"

	"github.com/berth-project/berth/internal/registry"
)

// DefaultRoot is where the registry keeps its data unless --root says.
const DefaultRoot = "/var/lib/berth/registry"

// Main runs `berth registry` with args (without "registry") and returns the
// exit code.
func Main(args []string) int {
	root := &cobra.Command{
		Use:           "berth registry",
		Short:         "Run an OCI distribution registry",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServeCommand(), newGCCommand())
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "berth registry:", err)
		return 1
	}
	return 0
}

type serveOptions struct {
	addr, root, htpasswd, tlsCert, tlsKey, logLevel string
	readOnly                                        bool
	proxy                                           proxyOptions
}

func newServeCommand() *cobra.Command {
	var o serveOptions
	cmd := &cobra.Command{
		Use:   "serve [OPTIONS]",
		Short: "Serve the registry (OCI distribution spec v1.1) over HTTP or HTTPS",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serve(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.addr, "addr", ":5000", "address to listen on (host:port; port 0 picks a free one)")
	f.StringVar(&o.root, "root", DefaultRoot, "directory holding the registry's content")
	f.StringVar(&o.htpasswd, "htpasswd", "", "require HTTP basic auth by the users of this htpasswd file (bcrypt entries, htpasswd -B)")
	f.StringVar(&o.tlsCert, "tls-cert", "", "serve HTTPS with this certificate (PEM)")
	f.StringVar(&o.tlsKey, "tls-key", "", "private key of --tls-cert (PEM)")
	f.BoolVar(&o.readOnly, "read-only", false, "refuse pushes and deletes")
	f.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	o.proxy.addFlags(f)
	return cmd
}

func serve(ctx context.Context, o serveOptions) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	opts := registry.Options{Root: o.root, ReadOnly: o.readOnly, Logger: log}
	if o.htpasswd != "" {
		users, err := registry.LoadHtpasswd(o.htpasswd)
		if err != nil {
			return err
		}
		opts.Users = users
	}
	up, err := o.proxy.upstream()
	if err != nil {
		return err
	}
	if up != nil {
		opts.Upstream = up
		opts.TagTTL = o.proxy.tagTTL
	}
	srv, err := registry.New(opts)
	if err != nil {
		return err
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: time.Minute, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	scheme := "http"
	if o.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(o.tlsCert, o.tlsKey)
		if err != nil {
			ln.Close()
			return fmt.Errorf("TLS: %w", err)
		}
		hs.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		ln = tls.NewListener(ln, hs.TLSConfig)
		scheme = "https"
	}
	mode := "read-write"
	switch {
	case up != nil:
		mode = "pull-through cache of " + o.proxy.url
	case o.readOnly:
		mode = "read-only"
	}
	log.Info(listeningMsg, "url", scheme+"://"+ln.Addr().String(), "root", o.root, "mode", mode, "auth", o.htpasswd != "")

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case sig := <-sigs:
		log.Info("shutting down", "signal", sig.String())
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return hs.Shutdown(sctx)
	}
}

func newGCCommand() *cobra.Command {
	var (
		root string
		opts registry.GCOptions
	)
	cmd := &cobra.Command{
		Use:   "gc [OPTIONS]",
		Short: "Remove blobs no manifest references (safe while the registry serves)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := registry.GarbageCollect(cmd.Context(), root, opts)
			if err != nil {
				return err
			}
			verb := "removed"
			if opts.DryRun {
				verb = "would remove"
			}
			fmt.Printf("%s %d blobs (%s), %d manifests, %d blob links, %d stale uploads\n", verb,
				res.BlobsRemoved, units.HumanSize(float64(res.BytesFreed)), res.ManifestsRemoved, res.LinksRemoved, res.UploadsRemoved)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&root, "root", DefaultRoot, "directory holding the registry's content")
	f.DurationVar(&opts.MinAge, "min-age", time.Hour, "keep blobs uploaded and manifests pushed more recently than this (pushes in progress)")
	f.BoolVar(&opts.DeleteUntagged, "delete-untagged", false, "also remove manifests no tag reaches (referrers of kept manifests stay)")
	f.DurationVar(&opts.StaleUploads, "stale-uploads", 24*time.Hour, "remove upload sessions untouched for this long")
	f.BoolVar(&opts.DryRun, "dry-run", false, "only report what would be removed")
	return cmd
}
