package containers

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"

	"github.com/moby/moby/api/types/container"

	"github.com/berth-project/berth/internal/errdefs"
)

const pathStatHeader = "X-Docker-Container-Path-Stat"

func setPathStat(w http.ResponseWriter, st container.PathStat) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	w.Header().Set(pathStatHeader, base64.StdEncoding.EncodeToString(b))
	return nil
}

func archivePath(r *http.Request) (string, error) {
	p := r.URL.Query().Get("path")
	if p == "" {
		return "", errdefs.InvalidArgumentf("path is required")
	}
	return p, nil
}

func (rt *Router) archiveHead(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	p, err := archivePath(r)
	if err != nil {
		return err
	}
	st, err := rt.b.StatPath(ctx, r.PathValue("id"), p)
	if err != nil {
		return err
	}
	if err := setPathStat(w, st); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (rt *Router) archiveGet(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	p, err := archivePath(r)
	if err != nil {
		return err
	}
	var headerErr error
	start := func(st container.PathStat) {
		headerErr = setPathStat(w, st)
		w.Header().Set("Content-Type", "application/x-tar")
		w.WriteHeader(http.StatusOK)
	}
	if err := rt.b.ArchivePath(ctx, r.PathValue("id"), p, start, w); err != nil {
		return err
	}
	return headerErr
}

func (rt *Router) archivePut(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	p, err := archivePath(r)
	if err != nil {
		return err
	}
	if err := rt.b.ExtractToDir(ctx, r.PathValue("id"), p, r.Body); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
