package registry

import (
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strconv"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// maxCatalog is the page size of the catalog when the client names none.
const maxCatalog = 1000

// paginate applies the n and last parameters to a sorted list. It returns
// the page and whether entries follow it.
func paginate(all []string, q url.Values, defaultN int) ([]string, int, bool, error) {
	n := defaultN
	if v := q.Get("n"); v != "" {
		i, err := strconv.Atoi(v)
		if err != nil || i < 0 {
			return nil, 0, false, errorf(CodePaginationInvalid, "invalid number of results requested: %q", v)
		}
		n = i
	}
	if last := q.Get("last"); last != "" {
		i := sort.SearchStrings(all, last)
		if i < len(all) && all[i] == last {
			i++
		}
		all = all[i:]
	}
	if n < 0 || n >= len(all) {
		return all, n, false, nil
	}
	return all[:n], n, n > 0, nil
}

func writeJSON(w http.ResponseWriter, r *http.Request, contentType string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(b)
	}
	return nil
}

func nextLink(path string, n int, last string) string {
	q := url.Values{}
	q.Set("n", strconv.Itoa(n))
	q.Set("last", last)
	return "<" + path + "?" + q.Encode() + `>; rel="next"`
}

func (s *Server) catalog(w http.ResponseWriter, r *http.Request) error {
	all, err := s.meta.repositories()
	if err != nil {
		return err
	}
	page, n, more, err := paginate(all, r.URL.Query(), maxCatalog)
	if err != nil {
		return err
	}
	if more {
		w.Header().Set("Link", nextLink("/v2/_catalog", n, page[len(page)-1]))
	}
	if page == nil {
		page = []string{}
	}
	return writeJSON(w, r, "application/json", struct {
		Repositories []string `json:"repositories"`
	}{page})
}

func (s *Server) tagsList(w http.ResponseWriter, r *http.Request, name string) error {
	if s.opts.Upstream != nil {
		if err := s.proxyTags(w, r, name); err == nil {
			return nil
		}
	}
	if !s.meta.exists(name) {
		return errorf(CodeNameUnknown, "repository name not known to registry").withDetail(map[string]string{"name": name})
	}
	all, err := s.meta.tags(name)
	if err != nil {
		return err
	}
	return writeTags(w, r, name, all)
}

// writeTags answers a tags list: the page of the sorted tags that the
// query asks for, with a Link header to the next one.
func writeTags(w http.ResponseWriter, r *http.Request, name string, tags []string) error {
	page, n, more, err := paginate(tags, r.URL.Query(), -1)
	if err != nil {
		return err
	}
	if more {
		w.Header().Set("Link", nextLink("/v2/"+name+"/tags/list", n, page[len(page)-1]))
	}
	if page == nil {
		page = []string{}
	}
	return writeJSON(w, r, "application/json", struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}{name, page})
}

// referrers serves the referrers API: an index of the manifests whose
// subject is the digest, optionally filtered by artifactType.
func (s *Server) referrers(w http.ResponseWriter, r *http.Request, name, ref string) error {
	d, err := parseDigest(ref)
	if err != nil {
		return err
	}
	list, err := s.meta.referrers(name, d)
	if err != nil {
		return err
	}
	if at := r.URL.Query().Get("artifactType"); at != "" {
		kept := list[:0]
		for _, desc := range list {
			if desc.ArtifactType == at {
				kept = append(kept, desc)
			}
		}
		list = kept
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: list}
	idx.SchemaVersion = 2
	return writeJSON(w, r, ocispec.MediaTypeImageIndex, idx)
}
