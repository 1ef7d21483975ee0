package sink

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/postpipe/postpipe/internal/doc"
	"github.com/postpipe/postpipe/internal/post"
	"github.com/postpipe/postpipe/internal/stream"
)

// ChangeWriter is the collection of a stream with changes, as the sink
// applies ops to it (store.Docs is one).
type ChangeWriter interface {
	// States returns what is stored under each of ids that has anything
	// stored (a document or a tombstone); an id with nothing is absent.
	States(ctx context.Context, ids []string) (map[string]doc.State, error)
	// WriteStates writes each New state in place of its Expect, only
	// while what is stored is still Expect (nothing, or Expect.Version):
	// the ids where it was not are returned as stale, their stored state
	// untouched by this call. An error says nothing of what was written;
	// the writes are safe to repeat (a repeated one reads as stale).
	WriteStates(ctx context.Context, writes []doc.StateWrite) (stale []string, err error)
}

// ChangesRoute is a stream with changes (st.Changes): its records are
// creates, puts, patches and deletes of documents (doc.UnmarshalChange),
// keyed by the document's id so that the ops on one document are in one
// partition, in order. The sink applies them to what is stored in that
// order, and applies an op only when it is newer than the version the
// stored document (or tombstone) carries, so a redelivery after a crash, a
// replay after a rebalance, or a zombie sink that lost its partitions
// changes nothing: for any interleaving of them, the stored document is
// every acknowledged op applied once, in the broker's order.
func ChangesRoute(st *stream.Stream, w ChangeWriter) Route {
	if st == nil {
		return Route{err: errors.New("changes route: no stream")}
	}
	r := Route{stream: st.Name, topic: st.Topic, dlqTopic: st.DLQTopic(), noun: "document"}
	if w == nil {
		r.err = fmt.Errorf("route %q: a writer is required", st.Name)
		return r
	}
	r.store = changesRoute{st: st, w: w}.store
	return r
}

// PostsChangesRoute is ChangesRoute for the built-in posts stream (st, its
// built-in schema, with changes) on topic: its creates are the typed
// path's records (post.Unmarshal), stored in the posts' shape; its puts,
// patches and deletes are any stream's.
func PostsChangesRoute(st *stream.Stream, topic, dlqTopic string, w ChangeWriter) Route {
	if st == nil {
		return Route{err: errors.New("posts changes route: no stream")}
	}
	r := Route{stream: st.Name, topic: topic, dlqTopic: dlqTopic, noun: "post"}
	if w == nil {
		r.err = fmt.Errorf("route %q: a writer is required", st.Name)
		return r
	}
	r.store = changesRoute{st: st, w: w, create: postCreate}.store
	return r
}

type changesRoute struct {
	st *stream.Stream
	w  ChangeWriter
	// create decodes a create's record; nil: doc.UnmarshalChange's.
	create func(key, value []byte) (doc.Change, error)
}

// decode reads a record of the route: a change when it carries the op
// header, else a create.
func (t changesRoute) decode(r *kgo.Record) (doc.Change, error) {
	op := headerValue(r, doc.HeaderOp)
	if op == "" && t.create != nil {
		return t.create(r.Key, r.Value)
	}
	return doc.UnmarshalChange(t.st, op, r.Key, r.Value)
}

// postCreate is a post's record as a create: its body the stored post's
// members, in the order and with the omissions of the typed path's stored
// document (subtitle and tags left out when empty).
func postCreate(key, value []byte) (doc.Change, error) {
	p, err := post.Unmarshal(key, value)
	if err != nil {
		return doc.Change{}, err
	}
	b := make([]byte, 0, len(p.Author)+len(p.Title)+len(p.Subtitle)+len(p.Content)+64)
	b = append(b, `{"author":`...)
	b = post.AppendQuoted(b, p.Author)
	b = append(b, `,"title":`...)
	b = post.AppendQuoted(b, p.Title)
	if p.Subtitle != "" {
		b = append(b, `,"subtitle":`...)
		b = post.AppendQuoted(b, p.Subtitle)
	}
	b = append(b, `,"content":`...)
	b = post.AppendQuoted(b, p.Content)
	if len(p.Tags) > 0 {
		b = append(b, `,"tags":[`...)
		for i, tag := range p.Tags {
			if i > 0 {
				b = append(b, ',')
			}
			b = post.AppendQuoted(b, tag)
		}
		b = append(b, ']')
	}
	b = append(b, '}')
	return doc.Change{Op: doc.OpCreate, ID: p.ID, At: p.CreatedAt, Body: b, Fingerprint: p.Fingerprint}, nil
}

// op is one record's change, where the broker put it.
type op struct {
	c doc.Change
	v doc.Version
	r *kgo.Record
}

// maxStaleRounds bounds how often one batch re-reads the ids another
// writer moved meanwhile before the batch fails (and is retried whole).
const maxStaleRounds = 20

// store applies recs, all of rt's topic: the ops of each id in the
// batch's order, from the state read for the id, then one conditional
// write per id whose state changed. An id another writer moved in between
// (a zombie sink, the direct path) is read and worked out again.
func (t changesRoute) store(ctx context.Context, s *Sink, rt *Route, recs []*kgo.Record) (part, error) {
	p := part{rt: rt, records: len(recs)}
	byID := map[string][]op{}
	var ids []string
	for _, r := range recs {
		c, err := t.decode(r)
		if err != nil {
			p.dead = append(p.dead, deadLetter(rt.dlqTopic, r, err))
			continue
		}
		if _, ok := byID[c.ID]; !ok {
			ids = append(ids, c.ID)
		}
		byID[c.ID] = append(byID[c.ID], op{c: c, v: doc.Version{Partition: r.Partition, Offset: r.Offset}, r: r})
	}
	wctx, span := s.startWriteSpan(ctx, rt, recs)
	outcomes := make(map[string]outcome, len(ids))
	// An id whose ops in the batch are creates only is written blind, as
	// the first write of a new document (most are): nothing is read for
	// it unless the insert finds the id stored, when it is read and
	// worked out again as any other. The others are read first.
	todo, blind := make([]string, 0, len(ids)), map[string]bool{}
	for _, id := range ids {
		if !slices.ContainsFunc(byID[id], func(x op) bool { return x.c.Op != doc.OpCreate }) {
			blind[id] = true
		}
		todo = append(todo, id)
	}
	var err error
	for round := 0; len(todo) > 0; round++ {
		if round == maxStaleRounds {
			err = fmt.Errorf("%d documents moved by another writer %d times in a row", len(todo), round)
			break
		}
		toRead := todo
		if round == 0 {
			toRead = slices.DeleteFunc(slices.Clone(todo), func(id string) bool { return blind[id] })
		}
		var states map[string]doc.State
		if len(toRead) > 0 {
			err = retry(wctx, func() error {
				release, err := s.acquire(wctx)
				if err != nil {
					return err
				}
				states, err = t.w.States(wctx, toRead)
				release()
				if err != nil {
					s.log.Warn("reading stored states failed; retrying", "stream", rt.stream, "documents", len(toRead), "err", err)
				}
				return err
			})
			if err != nil {
				break
			}
		}
		var writes []doc.StateWrite
		for _, id := range todo {
			o := t.apply(rt, states[id], byID[id])
			outcomes[id] = o
			if o.write != nil {
				writes = append(writes, *o.write)
			}
		}
		var (
			stale    []string
			rejected map[int]error
		)
		if len(writes) > 0 {
			if err = retry(wctx, func() error {
				release, err := s.acquire(wctx)
				if err != nil {
					return err
				}
				t0 := time.Now()
				stale, err = t.w.WriteStates(wctx, writes)
				release()
				// A rejection is a write that succeeded but for the
				// states the store refused for good.
				rejected, err = rejections(err, len(writes))
				s.obs.WriteAttempted(rt.stream, time.Since(t0), err)
				if err != nil {
					s.log.Warn("write of changes failed; retrying", "stream", rt.stream, "documents", len(writes), "err", err)
				}
				return err
			}); err != nil {
				break
			}
		}
		// A state the store refused for good stays as it was; the ops
		// that made it are dead letters, with the store's reason.
		for i, reason := range rejected {
			id := writes[i].ID
			o := outcomes[id]
			o.refused(rt, reason)
			outcomes[id] = o
		}
		todo = stale
	}
	if err == nil {
		for _, id := range ids {
			o := outcomes[id]
			p.inserted += o.applied
			p.duplicates += o.skipped
			p.conflicts += o.conflicts
			p.dead = append(p.dead, o.dead...)
			p.ops.merge(o.ops)
		}
	}
	endWriteSpan(span, p.inserted, p.duplicates, err)
	if err != nil {
		return part{}, fmt.Errorf("stream %s: %w", rt.stream, err)
	}
	return p, nil
}

// outcome is what the ops of one id came to against one stored state.
type outcome struct {
	write                       *doc.StateWrite // nil: the state stays
	applied, skipped, conflicts int
	dead                        []*kgo.Record
	ops                         opCounts
	// made are the ops applied to make write's state, in order.
	made []op
}

// refused turns the ops that made o's state into dead letters with the
// store's reason: the store refused that state for good, so what is
// stored stays.
func (o *outcome) refused(rt *Route, reason error) {
	for _, x := range o.made {
		o.dead = append(o.dead, deadLetter(rt.dlqTopic, x.r, reason))
		o.applied--
		o.ops[x.c.Op-1][resultApplied]--
		o.ops.add(x.c.Op, resultDead)
	}
	o.write, o.made = nil, nil
}

// apply works out the ops of one id, in order, from the stored state.
//   - An op not newer than the state's version was applied before (a
//     redelivery or a zombie's replay): skipped.
//   - An op whose id is among the state's op ids is a retry of an applied
//     one (the same Idempotency-Key): its version is taken, nothing else.
//   - A create of a live document is a duplicate (same fingerprint) or a
//     reused key (another one: dead-lettered, as for every stream).
//   - A patch of a document that is not stored, or whose merged document
//     fails the stream's checks, is dead-lettered with the reason.
//
// An op that is dead-lettered leaves the state as it was.
func (t changesRoute) apply(rt *Route, s0 doc.State, ops []op) outcome {
	var o outcome
	s := s0
	s.OpIDs = slices.Clone(s0.OpIDs)
	changed := false
	for _, x := range ops {
		c := x.c
		appliedBefore := o.applied
		if s.Stored && !x.v.After(s.Version) {
			o.note(c.Op, resultSkipped)
			continue
		}
		live := s.Stored && !s.Deleted
		switch {
		case c.OpID != "" && slices.Contains(s.OpIDs, c.OpID):
			o.note(c.Op, resultSkipped)
		case c.Op == doc.OpCreate && live:
			if fingerprintsDiffer(s.Doc.Fingerprint, c.Fingerprint) {
				o.dead = append(o.dead, deadLetter(rt.dlqTopic, x.r, keyConflict(rt.noun, c.ID)))
				o.ops.add(c.Op, resultDead)
				o.conflicts++
				continue
			}
			o.note(c.Op, resultSkipped)
		case c.Op == doc.OpCreate || c.Op == doc.OpPut:
			d := c.Document()
			if c.Op == doc.OpPut && live {
				d.CreatedAt = s.Doc.CreatedAt
			}
			s.Stored, s.Deleted, s.Doc, s.DeletedAt = true, false, d, time.Time{}
			o.note(c.Op, resultApplied)
		case c.Op == doc.OpPatch && !live:
			o.dead = append(o.dead, deadLetter(rt.dlqTopic, x.r, fmt.Errorf("%w: patch of %s %s: nothing is stored under it (never created, or deleted)", doc.ErrNotStored, rt.noun, c.ID)))
			o.ops.add(c.Op, resultDead)
			continue
		case c.Op == doc.OpPatch:
			d, err := doc.Apply(t.st, s.Doc, c)
			if err != nil {
				o.dead = append(o.dead, deadLetter(rt.dlqTopic, x.r, err))
				o.ops.add(c.Op, resultDead)
				continue
			}
			s.Doc = d
			o.note(c.Op, resultApplied)
		case c.Op == doc.OpDelete:
			s.Stored, s.Deleted, s.Doc, s.DeletedAt = true, true, doc.Document{}, time.Now().UTC().Truncate(time.Millisecond)
			o.note(c.Op, resultApplied)
		default:
			o.dead = append(o.dead, deadLetter(rt.dlqTopic, x.r, fmt.Errorf("op %v of %s is not one this sink applies", c.Op, c.ID)))
			o.ops.add(c.Op, resultDead)
			continue
		}
		s.Version = x.v
		if !s.Deleted {
			s.Doc.Version = x.v
		}
		if o.applied > appliedBefore {
			o.made = append(o.made, x)
		}
		if c.OpID != "" && !slices.Contains(s.OpIDs, c.OpID) {
			s.OpIDs = append(s.OpIDs, c.OpID)
			if n := len(s.OpIDs); n > doc.MaxOpIDs {
				s.OpIDs = s.OpIDs[n-doc.MaxOpIDs:]
			}
		}
		changed = true
	}
	if changed {
		id := ops[0].c.ID
		o.write = &doc.StateWrite{ID: id, Expect: s0, New: s}
	}
	return o
}

// The results of an op, as the sink's op metrics count them.
const (
	resultApplied = iota // written (or the state it makes, folded with others)
	resultSkipped        // a redelivery, a retry, a duplicate create: nothing to do
	resultDead           // dead-lettered
	nResults
)

// resultNames are the result label's values, by result.
var resultNames = [nResults]string{"applied", "skipped", "dead_lettered"}

// opCounts counts a batch's ops by op and result.
type opCounts [4][nResults]int

func (c *opCounts) add(op doc.Op, result int) {
	if op >= doc.OpCreate && op <= doc.OpDelete {
		c[op-1][result]++
	}
}

func (c *opCounts) merge(o opCounts) {
	for i := range c {
		for j := range c[i] {
			c[i][j] += o[i][j]
		}
	}
}

// note counts one op's result in o's totals and by op.
func (o *outcome) note(op doc.Op, result int) {
	switch result {
	case resultApplied:
		o.applied++
	case resultSkipped:
		o.skipped++
	}
	o.ops.add(op, result)
}

// OpObserver is told, once per stream with changes in a batch, how many of
// its ops were applied, skipped or dead-lettered, by op. A sink's Observer
// that implements it hears it (internal/metrics does).
type OpObserver interface {
	OpsDone(stream, op, result string, n int)
}

// reportOps tells obs p's op counts, when obs listens.
func reportOps(obs Observer, stream string, c opCounts) {
	oo, ok := obs.(OpObserver)
	if !ok {
		return
	}
	for i, byResult := range c {
		for j, n := range byResult {
			if n > 0 {
				oo.OpsDone(stream, doc.OpNames[i], resultNames[j], n)
			}
		}
	}
}
