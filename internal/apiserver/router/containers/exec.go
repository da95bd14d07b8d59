package containers

import (
	"context"
	"encoding/json"
	"log"
	"net/http"

	"github.com/moby/moby/api/types/common"
	"github.com/moby/moby/api/types/container"

	"github.com/berth-project/berth/internal/apiserver/router"
)

func (rt *Router) execCreate(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	var req container.ExecCreateRequest
	if err := router.DecodeJSON(r, &req); err != nil {
		return err
	}
	id, err := rt.b.ExecCreate(ctx, r.PathValue("id"), req)
	if err != nil {
		return err
	}
	return router.WriteJSON(w, http.StatusCreated, common.IDResponse{ID: id})
}

func (rt *Router) execStart(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	var req container.ExecStartRequest
	if err := router.DecodeJSON(r, &req); err != nil {
		return err
	}
	id := r.PathValue("id")
	tty, err := rt.b.ExecIsTTY(id)
	if err != nil {
		return err
	}
	if req.Detach {
		if err := rt.b.ExecStart(ctx, id, true, nil); err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
		return nil
	}
	conn, err := router.Hijack(w, r, !tty)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := rt.b.ExecStart(context.WithoutCancel(ctx), id, false, conn); err != nil {
		log.Printf("exec %s: %v", id, err)
	}
	return nil
}

func (rt *Router) execInspect(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	resp, err := rt.b.ExecInspect(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	return router.WriteJSON(w, http.StatusOK, resp)
}

func (rt *Router) execResize(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	return resizeWith(w, r, func(h, wd uint16) error { return rt.b.ExecResize(ctx, r.PathValue("id"), h, wd) })
}

func writeJSONBody(w http.ResponseWriter, v any) error {
	return json.NewEncoder(w).Encode(v)
}
