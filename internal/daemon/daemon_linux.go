package daemon

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/moby/moby/api/types/mount"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/apiserver"
	buildrouter "github.com/berth-project/berth/internal/apiserver/router/build"
	containersrouter "github.com/berth-project/berth/internal/apiserver/router/containers"
	imagesrouter "github.com/berth-project/berth/internal/apiserver/router/images"
	networksrouter "github.com/berth-project/berth/internal/apiserver/router/networks"
	registryrouter "github.com/berth-project/berth/internal/apiserver/router/registry"
	systemrouter "github.com/berth-project/berth/internal/apiserver/router/system"
	volumesrouter "github.com/berth-project/berth/internal/apiserver/router/volumes"
	crec "github.com/berth-project/berth/internal/container"
	engine "github.com/berth-project/berth/internal/engine/containers"
	"github.com/berth-project/berth/internal/engine/events"
	"github.com/berth-project/berth/internal/engine/networks"
	"github.com/berth-project/berth/internal/engine/volumes"
	"github.com/berth-project/berth/internal/initproc"
	nrec "github.com/berth-project/berth/internal/network"
	vrec "github.com/berth-project/berth/internal/volume"
)

// Main runs `berth daemon ARGS` and returns the exit code.
func Main(args []string) int {
	cfg, err := parseFlags(args)
	if err != nil {
		if errors.Is(err, errHelp) {
			return 0
		}
		fmt.Fprintln(os.Stderr, "berth daemon:", err)
		return 125
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := Run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "berth daemon:", err)
		return 1
	}
	return 0
}

var errHelp = errors.New("help requested")

// Run serves the API until ctx ends. Containers keep running after it
// returns: their shims do not depend on the daemon.
func Run(ctx context.Context, cfg *Config) error {
	signal.Ignore(syscall.SIGPIPE, syscall.SIGHUP)
	for _, d := range []string{cfg.DataRoot, cfg.ExecRoot} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return fmt.Errorf("create %s: %w", d, err)
		}
	}
	db, err := crec.OpenDB(filepath.Join(cfg.DataRoot, "berth.db"))
	if err != nil {
		return fmt.Errorf("%w (is another daemon using %s?)", err, cfg.DataRoot)
	}
	defer db.Close()
	pidFile := filepath.Join(cfg.ExecRoot, "berth.pid")
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return fmt.Errorf("write pid file: %w", err)
	}
	defer os.Remove(pidFile)
	cstore, err := crec.OpenStore(db)
	if err != nil {
		return err
	}
	vstore, err := vrec.OpenStore(db, filepath.Join(cfg.DataRoot, "volumes"))
	if err != nil {
		return err
	}
	bus := events.New()
	vols := volumes.New(vstore, bus)
	images, snapshotter, err := openImages(cfg.DataRoot, bus, vols)
	if err != nil {
		return err
	}
	defer snapshotter.Close()
	if err := seedBusybox(ctx, images.Store()); err != nil {
		log.Printf("busybox image: %v", err)
	}
	if err := seedHello(ctx, images.Store()); err != nil {
		log.Printf("hello image: %v", err)
	}
	builder, err := openBuilder(cfg, images.Store(), snapshotter)
	if err != nil {
		return err
	}
	defer builder.Close()
	images.SetBuildCache(builder)
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own binary: %w", err)
	}
	runtimes := knownRuntimes(self, cfg)
	initPath := filepath.Join(cfg.DataRoot, "bin", "berth-init")
	if err := initproc.Install(initPath); err != nil {
		log.Printf("--init will not work: %v", err)
		initPath = ""
	}
	if _, ok := runtimes[cfg.DefaultRuntime]; !ok && !filepath.IsAbs(cfg.DefaultRuntime) {
		return fmt.Errorf("default runtime %q not found", cfg.DefaultRuntime)
	}
	nstore, err := nrec.OpenStore(db)
	if err != nil {
		return err
	}
	nets, err := networks.New(networks.Config{
		ExecRoot:      cfg.ExecRoot,
		BridgePrefix:  cfg.Network.BridgePrefix,
		Table:         cfg.Network.Table,
		DefaultBridge: cfg.Network.BIP,
		Pools:         cfg.Network.Pools,
		DNSPort:       cfg.Network.DNSPort,
		ResolverArgv:  []string{self, "dns-resolver"},
		MTU:           cfg.Network.MTU,
		Events:        bus,
	}, nstore, cstore)
	if err != nil {
		return err
	}
	if err := nets.Start(ctx); err != nil {
		return fmt.Errorf("networking: %w", err)
	}
	defer nets.Close()
	builder.SetNetwork(buildNetwork{nets})
	svc := engine.New(engine.Config{
		Root:           filepath.Join(cfg.DataRoot, "containers"),
		ExecRoot:       cfg.ExecRoot,
		Berth:          self,
		InitPath:       initPath,
		Runtimes:       runtimes,
		DefaultRuntime: cfg.DefaultRuntime,
		CgroupParent:   cfg.CgroupParent,
		Events:         bus,
		LogMaxSize:     engine.DefaultLogMaxSize,
		LogMaxFiles:    engine.DefaultLogMaxFiles,
		Network:        nets,
	}, cstore, images, vols)
	defer svc.Close()
	images.SetContainers(svc)
	for _, c := range cstore.List() {
		for _, m := range c.Mounts {
			if m.Type == mount.TypeVolume && m.Name != "" {
				vols.Use(m.Name, c.ID)
			}
		}
	}
	svc.Restore(ctx)

	dist := newRegistries(cfg, images.Store(), snapshotter, bus)
	builder.SetPull(dist.pullForBuild)
	srv := apiserver.New(
		systemrouter.New(&systemBackend{cfg: cfg, events: bus, containers: svc, runtimes: runtimes, images: countImages(images.Store())}),
		containersrouter.New(svc),
		volumesrouter.New(vols),
		networksrouter.New(nets, svc),
		imagesrouter.New(images, dist, dist),
		buildrouter.New(builder),
		registryrouter.New(dist),
	)
	var listeners []net.Listener
	for _, h := range cfg.Hosts {
		l, err := listenUnix(h)
		if err != nil {
			for _, l := range listeners {
				l.Close()
			}
			return err
		}
		listeners = append(listeners, l)
	}
	errc := make(chan error, len(listeners))
	for _, l := range listeners {
		go func(l net.Listener) { errc <- srv.Serve(l) }(l)
	}
	log.Printf("berth daemon %s serving %v (data root %s, runtime %s)", Version, cfg.Hosts, cfg.DataRoot, cfg.DefaultRuntime)
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	for _, h := range cfg.Hosts {
		if p, perr := SocketPath(h); perr == nil {
			os.Remove(p)
		}
	}
	return err
}

// listenUnix listens on a unix:// host, replacing a stale socket but not
// a live daemon's.
func listenUnix(host string) (net.Listener, error) {
	path, err := SocketPath(host)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o711); err != nil {
		return nil, err
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("a daemon is already serving %s", path)
	}
	os.Remove(path)
	old := unix.Umask(0o117)
	l, err := net.Listen("unix", path)
	unix.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	return l, nil
}

// knownRuntimes lists berth itself, runc and crun when installed, and the
// runtimes added by configuration.
func knownRuntimes(self string, cfg *Config) map[string]engine.Runtime {
	rts := map[string]engine.Runtime{
		"berth": {Name: "berth", Binary: self, Args: []string{"runtime"}, Builtin: true},
	}
	for _, name := range []string{"runc", "crun"} {
		if p, err := exec.LookPath(name); err == nil {
			rts[name] = engine.Runtime{Name: name, Binary: p}
		} else if _, err := os.Stat("/usr/sbin/" + name); err == nil {
			rts[name] = engine.Runtime{Name: name, Binary: "/usr/sbin/" + name}
		}
	}
	for name, path := range cfg.Runtimes {
		rts[name] = engine.Runtime{Name: name, Binary: path}
	}
	return rts
}
