package api

import "net/http"

// benchNoop does everything POST /v1/posts does except the I/O: read,
// decode, validate, assign an id, answer 202. Its throughput is the ceiling
// of the HTTP server and the request handling, against which the real write
// paths are measured.
func (a *API) benchNoop(w http.ResponseWriter, r *http.Request) {
	p, err := a.readPost(w, r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeAccepted(w, p)
}
