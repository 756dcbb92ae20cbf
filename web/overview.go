package web

import "net/http"

// pageOverview is /: per region and family, use, runway and IPv6 share.
func (s *Server) pageOverview(w http.ResponseWriter, r *http.Request) error {
	return s.render(w, r, http.StatusOK, "overview", nil)
}
