package bench

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// The operations a reading scenario records apart: their latencies differ
// by orders of magnitude on some stores.
const (
	opGet   = "get by id"
	opList  = "list by author"
	opWrite = "write"
)

// listShare is the share of reads that list a page by author; the rest get
// one post by id.
const listShare = 0.2

// listLimit is the page size of the list reads: the API's default.
const listLimit = 20

// readPool is what the reads ask for: ids of posts this run stored, and
// their authors, each with the cursor of the next page to read, so the
// list reads walk the pages rather than reread the first.
type readPool struct {
	ids     []string
	authors []string

	mu      sync.Mutex
	cursors map[string]string // author → next page ("" : the first)
}

func newReadPool(ids, authors []string) *readPool {
	return &readPool{ids: ids, authors: authors, cursors: map[string]string{}}
}

func (p *readPool) empty() bool { return p == nil || len(p.ids) == 0 }

func (p *readPool) cursor(author string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cursors[author]
}

func (p *readPool) setCursor(author, c string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cursors[author] = c // "" after the last page: start over
}

// read sends one read: a post by id, or a page of an author's posts.
func (s *sender) read(ctx context.Context, v *vu, intended time.Time) {
	if s.pool.empty() {
		s.rec.record(outcome{latency: time.Since(intended), failure: "no-posts-to-read", op: opGet})
		return
	}
	op, author := opGet, ""
	p := append(v.path[:0], s.conns.basePath...)
	if len(s.pool.authors) > 0 && rand.Float64() < listShare {
		op = opList
		author = s.pool.authors[rand.IntN(len(s.pool.authors))]
		p = append(p, "/v1/posts?author="...)
		p = append(p, url.QueryEscape(author)...)
		p = append(p, "&limit="...)
		p = strconv.AppendInt(p, listLimit, 10)
		if c := s.pool.cursor(author); c != "" {
			p = append(p, "&cursor="...)
			p = append(p, url.QueryEscape(c)...)
		}
	} else {
		p = append(p, "/v1/posts/"...)
		p = append(p, url.PathEscape(s.pool.ids[rand.IntN(len(s.pool.ids))])...)
	}
	v.path = p
	status, answer, err := v.conn.exchange(ctx, http.MethodGet, string(p), nil)
	latency := time.Since(intended)
	if err != nil {
		if ctx.Err() != nil {
			return // the run was stopped: not a measurement
		}
		s.rec.record(outcome{latency: latency, failure: transportFailure(err), op: op})
		return
	}
	o := judgeRead(status, answer, op)
	o.latency = latency
	if op == opList && o.failure == "" {
		s.pool.setCursor(author, o.next)
	}
	s.rec.record(o)
}

// judgeRead turns the answer of a read into an outcome: 200 with a post,
// or with a page, is success.
func judgeRead(status int, answer []byte, op string) outcome {
	if status != http.StatusOK {
		return outcome{failure: strconv.Itoa(status), op: op}
	}
	if op == opList {
		var p struct {
			Posts      []json.RawMessage `json:"posts"`
			NextCursor string            `json:"nextCursor"`
		}
		if err := json.Unmarshal(answer, &p); err != nil || p.Posts == nil {
			return outcome{failure: "bad-answer", op: op}
		}
		return outcome{op: op, next: p.NextCursor}
	}
	var p struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(answer, &p); err != nil || p.ID == "" {
		return outcome{failure: "bad-answer", op: op}
	}
	return outcome{op: op}
}
