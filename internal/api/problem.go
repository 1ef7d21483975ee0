package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/postpipe/postpipe/internal/doc"
	"github.com/postpipe/postpipe/internal/logging"
	"github.com/postpipe/postpipe/internal/post"
)

// problem is an RFC 9457 problem details body.
type problem struct {
	Type     string            `json:"type"`
	Title    string            `json:"title"`
	Status   int               `json:"status"`
	Detail   string            `json:"detail"`
	Instance string            `json:"instance,omitempty"`
	Errors   []post.FieldError `json:"errors,omitempty"`
	// MoreErrors counts the problems found beyond Errors, which lists at
	// most post.MaxFieldErrors.
	MoreErrors int `json:"moreErrors,omitempty"`
	// ID names a post the broker did not acknowledge in time: it may still
	// land, once, under this id.
	ID string `json:"id,omitempty"`
	// RequestID is the request's X-Request-ID, to find its log lines.
	RequestID string `json:"requestId,omitempty"`
}

// requestError is a client mistake found while reading a request.
type requestError struct {
	status int
	detail string
	fields []post.FieldError
	more   int // problems beyond fields
}

func (e *requestError) Error() string { return e.detail }

func badRequest(status int, detail string) error {
	return &requestError{status: status, detail: detail}
}

// unavailableError is a dependency that could not do its part in time.
type unavailableError struct {
	dependency string // "kafka" or "mongodb"
	err        error
	// postID is set when a post was handed to the broker without an
	// acknowledgement: it may have been written all the same.
	postID string
	// op is the op of a stream with changes that was handed over so
	// (doc.OpPut, OpPatch or OpDelete); 0 for a post or a create.
	op doc.Op
}

func (e *unavailableError) Error() string { return e.dependency + " unavailable: " + e.err.Error() }
func (e *unavailableError) Unwrap() error { return e.err }

// problemKeyConflict is the problem type of a reused Idempotency-Key with a
// different body.
const problemKeyConflict = "https://github.com/postpipe/postpipe/blob/main/docs/api-input.md#idempotency-key-conflict"

// errOverloaded refuses a request beyond Limits.MaxInFlight.
var errOverloaded = errors.New("too many requests in flight")

// retryAfterSeconds is what a 503 tells clients to wait.
const retryAfterSeconds = 1

// fail answers with the problem for err. It is the one place where errors
// become HTTP statuses.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	p := problem{Type: "about:blank", Instance: r.URL.Path, RequestID: logging.RequestID(r.Context())}
	var (
		reqErr  *requestError
		valErr  *post.ValidationError
		unavErr *unavailableError
		rateErr *rateLimitedError
		keyErr  *keyConflictError
		budErr  *bodyBudgetError
		forbErr *forbiddenError
	)
	switch {
	case errors.Is(err, errNoKey), errors.Is(err, errBadKey):
		p.Status, p.Detail = http.StatusUnauthorized, err.Error()
		w.Header().Set("WWW-Authenticate", wwwAuthenticate(err))
	case errors.As(err, &forbErr):
		p.Status, p.Detail = http.StatusForbidden, forbErr.Error()
	case errors.As(err, &rateErr):
		p.Status, p.Detail = http.StatusTooManyRequests, "over the rate limit; retry after the time in Retry-After"
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter(rateErr.retryAfter)))
	case errors.As(err, &keyErr):
		p.Status, p.Detail, p.ID = http.StatusConflict, keyErr.Error(), keyErr.id
		p.Type, p.Title = problemKeyConflict, "Idempotency-Key conflict"
	case errors.Is(err, errAmbiguousFraming):
		p.Status, p.Detail = http.StatusBadRequest, err.Error()
		w.Header().Set("Connection", "close") // what may follow on the connection is not to be trusted
	case errors.As(err, &reqErr):
		p.Status, p.Detail, p.Errors, p.MoreErrors = reqErr.status, reqErr.detail, reqErr.fields, reqErr.more
	case errors.As(err, &valErr):
		p.Status, p.Detail, p.Errors, p.MoreErrors = http.StatusUnprocessableEntity, valErr.Error(), valErr.Fields, valErr.More
	case errors.As(err, &budErr):
		p.Status, p.Detail = http.StatusServiceUnavailable, budErr.Error()+"; retry later"
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
	case errors.Is(err, errOverloaded):
		p.Status, p.Detail = http.StatusServiceUnavailable, "the server is at its limit of requests in flight; retry later"
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
	case errors.Is(err, errReadsOverloaded):
		p.Status, p.Detail = http.StatusServiceUnavailable, "the server is at its limit of reads in flight; retry later"
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
	case errors.As(err, &unavErr): // before ErrNotFound, which a dependency failure may wrap
		p.Status = http.StatusServiceUnavailable
		p.Detail = unavErr.dependency + " is unavailable; retry later"
		if unavErr.postID != "" {
			p.ID = unavErr.postID
			p.Detail = "kafka did not acknowledge the post in time (broker slow or down, or the producer's buffer full), so it was not accepted; it may still be stored once under this id. Retry with an Idempotency-Key so a retry cannot store it twice"
			if unavErr.op != 0 {
				p.Detail = "kafka did not acknowledge the " + unavErr.op.String() + " of the document with this id in time (broker slow or down, or the producer's buffer full), so it was not accepted; it may still be applied, once. Retry with the same Idempotency-Key so a retry cannot apply it twice"
			}
		}
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
		a.log.WarnContext(r.Context(), "dependency unavailable", "dependency", unavErr.dependency, "path", r.URL.Path, "err", unavErr.err)
	case errors.Is(err, post.ErrNotFound):
		p.Status, p.Detail = http.StatusNotFound, "no post with this id is stored (yet): an accepted post appears once the sink has written it"
	default:
		p.Status, p.Detail = http.StatusInternalServerError, "internal error"
		a.log.ErrorContext(r.Context(), "request failed", "path", r.URL.Path, "err", err)
	}
	if p.Title == "" {
		p.Title = http.StatusText(p.Status)
	}
	p.Detail, p.Errors, p.MoreErrors = boundErrors(p.Detail, p.Errors, p.MoreErrors)
	writeProblem(w, p)
}

// boundErrors bounds what an answer says of a refusal, whatever made the
// error list: at most post.MaxFieldErrors field errors, each name and
// message cut to post.MaxFieldErrorText bytes, more counting the rest, and
// the detail cut to post.MaxDetailBytes. The decoder and Validate already
// keep to these bounds; a validator that does not (a JSON Schema one, say)
// cannot make an answer of megabytes either. A list within the bounds is
// used as it is.
func boundErrors(detail string, fs []post.FieldError, more int) (string, []post.FieldError, int) {
	fs, more = post.LimitFieldErrors(fs, more)
	return post.Truncate(detail, post.MaxDetailBytes), fs, more
}

func writeProblem(w http.ResponseWriter, p problem) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// Header values set on every JSON answer, shared: net/http only reads
// them, and Header.Set or Add give a key a new slice.
var (
	jsonContentType = []string{"application/json"}
	nosniff         = []string{"nosniff"}
)

// writeJSON answers status with v as JSON. An encoding error here can only
// be a broken connection, which has nobody left to tell.
func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["X-Content-Type-Options"] = nosniff
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (a *API) notFound(w http.ResponseWriter, r *http.Request) {
	if allow := a.allowedMethods(r); len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		a.fail(w, r, badRequest(http.StatusMethodNotAllowed, "method "+r.Method+" is not allowed for "+r.URL.Path))
		return
	}
	if name, ok := strings.CutPrefix(r.URL.Path, "/v1/"); ok {
		name, _, _ = strings.Cut(name, "/")
		name, _, _ = strings.Cut(name, ":")
		if name != "bench" && name != "stats" && !slices.Contains(a.StreamNames(), name) {
			a.fail(w, r, badRequest(http.StatusNotFound, fmt.Sprintf("no route for %s %s: no stream named %q; the streams served are %s", r.Method, r.URL.Path, name, strings.Join(a.StreamNames(), ", "))))
			return
		}
	}
	a.fail(w, r, badRequest(http.StatusNotFound, "no route for "+r.Method+" "+r.URL.Path))
}

// allowedMethods lists the methods that have a route for r's path. The
// catch-all "/" route matches every method, which hides the mux's own 405.
func (a *API) allowedMethods(r *http.Request) []string {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := r.WithContext(r.Context())
		probe.Method = m
		if _, pattern := a.mux.Handler(probe); pattern != "" && pattern != "/" {
			allow = append(allow, m)
		}
	}
	return allow
}
