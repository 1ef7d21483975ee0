package sink

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/postpipe/postpipe/internal/doc"
	"github.com/postpipe/postpipe/internal/post"
	"github.com/postpipe/postpipe/internal/stream"
)

// Route is one stream the sink consumes: its topic, where its dead letters
// go, how its records decode and where they are written. Build it with
// NewRoute, PostsRoute or DocumentsRoute; New refuses the zero Route.
type Route struct {
	stream, topic, dlqTopic string
	// noun is what a key conflict's reason calls the document; the posts
	// stream keeps "post", which its docs and dead letters have always said.
	noun string
	// store decodes, writes and sorts out one batch's records of the
	// route; it closes over the route's document type.
	store func(ctx context.Context, s *Sink, rt *Route, recs []*kgo.Record) (part, error)
	// err is what NewRoute found wrong; New reports it.
	err error
	// stats are set on the sink's own copy only.
	stats *counters
}

// NewRoute routes the records of topic, the stream's, to w: decode turns a
// record into a document or says why it can never be stored (the record is
// dead-lettered to dlqTopic with that reason), and id gives a document's id
// (the stored key) and its fingerprint ("" when it has none, which matches
// any). None of decode, id and w may be nil.
func NewRoute[D any](stream, topic, dlqTopic string, decode func(key, value []byte) (D, error), id func(D) (id, fingerprint string), w Writer[D]) Route {
	r := Route{stream: stream, topic: topic, dlqTopic: dlqTopic, noun: "document"}
	if decode == nil || id == nil || w == nil {
		r.err = fmt.Errorf("route %q: decode, id and writer are required", stream)
		return r
	}
	r.store = typedRoute[D]{decode: decode, id: id, w: w}.store
	return r
}

// PostsRoute is the built-in posts stream (stream.Builtin) on topic: records
// decoded by post.Unmarshal, written by w.
func PostsRoute(topic, dlqTopic string, w Writer[post.Post]) Route {
	r := NewRoute(stream.Builtin, topic, dlqTopic, post.Unmarshal,
		func(p post.Post) (string, string) { return p.ID, p.Fingerprint }, w)
	r.noun = "post"
	return r
}

// DocumentsRoute is a declared stream whose records carry doc.Document:
// decode is the stream's (doc.Unmarshal for it), w its collection's store.
func DocumentsRoute(stream, topic, dlqTopic string, decode func(key, value []byte) (doc.Document, error), w Writer[doc.Document]) Route {
	return NewRoute(stream, topic, dlqTopic, decode,
		func(d doc.Document) (string, string) { return d.ID, d.Fingerprint }, w)
}

// Stream is the route's stream name, the label of its metrics.
func (r Route) Stream() string { return r.stream }

// Topic is the topic the route consumes.
func (r Route) Topic() string { return r.topic }

// DLQTopic is where the route's dead letters go.
func (r Route) DLQTopic() string { return r.dlqTopic }

// checkRoutes refuses what would make a record's route ambiguous (two routes
// on one topic), its metrics and stats ambiguous (two routes with one
// stream name), or bring dead letters back to the sink (a DLQ topic it
// consumes): none of them can be fixed once records flow.
func checkRoutes(routes []Route) error {
	if len(routes) == 0 {
		return errors.New("sink: no routes; give it at least one stream to consume")
	}
	topics := make(map[string]string, len(routes))
	streams := make(map[string]bool, len(routes))
	for i, r := range routes {
		switch {
		case r.err != nil:
			return fmt.Errorf("sink: %w", r.err)
		case r.store == nil:
			return fmt.Errorf("sink: route %d was not built by NewRoute", i)
		case r.stream == "" || r.topic == "" || r.dlqTopic == "":
			return fmt.Errorf("sink: route %d (stream %q, topic %q, DLQ topic %q) lacks a name", i, r.stream, r.topic, r.dlqTopic)
		}
		if other, ok := topics[r.topic]; ok {
			return fmt.Errorf("sink: streams %q and %q both consume topic %q", other, r.stream, r.topic)
		}
		if streams[r.stream] {
			return fmt.Errorf("sink: two routes for stream %q", r.stream)
		}
		topics[r.topic], streams[r.stream] = r.stream, true
	}
	for _, r := range routes {
		if other, ok := topics[r.dlqTopic]; ok {
			return fmt.Errorf("sink: stream %q dead-letters to %q, the topic of stream %q: its dead letters would come back", r.stream, r.dlqTopic, other)
		}
	}
	return nil
}

// part is what became of one route's records of a batch, once stored.
type part struct {
	rt                   *Route
	records              int
	inserted, duplicates int
	conflicts            int
	dead                 []*kgo.Record
	// ops counts a changes route's ops by op and result.
	ops opCounts
}

// typedRoute is a route's document type at work.
type typedRoute[D any] struct {
	decode func(key, value []byte) (D, error)
	id     func(D) (id, fingerprint string)
	w      Writer[D]
}

// store decodes recs, all of rt's topic, writes the documents and returns
// the dead letters to send, retrying the store until it succeeds or ctx
// ends. It commits and produces nothing: flush does, for the whole batch.
//
// A record becomes a dead letter when it does not decode, when the store
// refuses its document for good (see Rejections), or when its id is stored
// with another input (a reused key); every other record is written once
// or counted a duplicate.
func (t typedRoute[D]) store(ctx context.Context, s *Sink, rt *Route, recs []*kgo.Record) (part, error) {
	p := part{rt: rt, records: len(recs)}
	docs := make([]D, 0, len(recs))
	from := make([]*kgo.Record, 0, len(recs)) // docs[j] came from from[j]
	first := make(map[string]int, len(recs))  // id → its document's index in docs
	// later are the records that repeat an id of docs, with the same
	// input (a repeat) or another (a variant, whose fate the stored
	// document decides).
	type later struct {
		d       D
		r       *kgo.Record
		of      int // the index in docs of the id's document
		variant bool
	}
	var repeats []later
	for _, r := range recs {
		d, err := t.decode(r.Key, r.Value)
		if err != nil {
			p.dead = append(p.dead, deadLetter(rt.dlqTopic, r, err))
			continue
		}
		// A retried request (same Idempotency-Key) can put one id on the
		// topic twice, often in the same batch: write it once. FerretDB
		// also fails a bulk insert that repeats an _id in itself.
		id, fp := t.id(d)
		if j, ok := first[id]; ok {
			_, firstFP := t.id(docs[j])
			repeats = append(repeats, later{d: d, r: r, of: j, variant: fingerprintsDiffer(firstFP, fp)})
			continue
		}
		first[id] = len(docs)
		docs = append(docs, d)
		from = append(from, r)
	}

	wctx, span := s.startWriteSpan(ctx, rt, recs)
	inserted, dups, rejected, err := write(wctx, s, rt.stream, t.w, docs)
	if err == nil {
		// The documents the store refused for good are dead letters, and
		// so are the records that repeat them: the same input, refused
		// the same way. A variant of one was never written (the batch
		// writes an id once); nothing is stored under its id, so it goes
		// to the DLQ too, to be redriven if it can be stored.
		for _, j := range slices.Sorted(maps.Keys(rejected)) {
			p.dead = append(p.dead, deadLetter(rt.dlqTopic, from[j], rejected[j]))
		}
		var variants []later
		repeated := 0
		for _, l := range repeats {
			reason, refused := rejected[l.of]
			switch {
			case refused && !l.variant:
				p.dead = append(p.dead, deadLetter(rt.dlqTopic, l.r, reason))
			case refused:
				id, _ := t.id(l.d)
				p.dead = append(p.dead, deadLetter(rt.dlqTopic, l.r, variantOfRefused(rt.noun, id, reason)))
			case l.variant:
				variants = append(variants, l)
			default:
				repeated++
			}
		}
		if dups > 0 || len(variants) > 0 {
			// Some ids were stored already: a redelivery, a retry, or a
			// reused key whose first document reached the store first
			// (from another API instance, or past one instance's
			// window). What is stored stands; a keyed document with
			// other input is dead-lettered.
			written := make([]D, 0, len(docs)-len(rejected)+len(variants))
			for j, d := range docs {
				if _, ok := rejected[j]; !ok {
					written = append(written, d)
				}
			}
			for _, l := range variants {
				written = append(written, l.d)
			}
			var stored map[string]string
			stored, err = storedFingerprints(wctx, s, t.w, t.id, written)
			for j, d := range docs {
				if _, ok := rejected[j]; ok {
					continue
				}
				id, fp := t.id(d)
				if sfp, ok := stored[id]; ok && fingerprintsDiffer(sfp, fp) {
					p.dead = append(p.dead, deadLetter(rt.dlqTopic, from[j], keyConflict(rt.noun, id)))
					dups--
					p.conflicts++
				}
			}
			for _, l := range variants {
				id, fp := t.id(l.d)
				if sfp, ok := stored[id]; ok && !fingerprintsDiffer(sfp, fp) {
					repeated++
					continue
				}
				p.dead = append(p.dead, deadLetter(rt.dlqTopic, l.r, keyConflict(rt.noun, id)))
				p.conflicts++
			}
		}
		dups += repeated
	}
	endWriteSpan(span, inserted, dups, err)
	if err != nil {
		return part{}, fmt.Errorf("stream %s: %w", rt.stream, err)
	}
	p.inserted, p.duplicates = inserted, dups
	return p, nil
}

// variantOfRefused is the reason a document is dead-lettered when another
// one with its id and other input came before it in the batch and the
// store refused that one.
func variantOfRefused(noun, id string, refused error) error {
	return fmt.Errorf("%s %s not written: another %s under its id (its Idempotency-Key used with another body) came first in the batch, and the store refused that one (%v); this %s may be stored if redriven", noun, id, noun, refused, noun)
}
