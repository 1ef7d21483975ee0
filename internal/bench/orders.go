package bench

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/postpipe/postpipe/internal/doc"
	"github.com/postpipe/postpipe/internal/stream"
)

// ordersStream is the declared stream the orders scenario writes to, as
// examples/streams.yaml declares it: schema examples/schemas/orders.json,
// id from /orderId, listed by customer and status.
const ordersStream = "orders"

// orderBytes is the length of every order the bench sends: the ~600-byte
// document the issue compares with a post.
const orderBytes = 600

// orderItems is how many items an order holds; itemNameBytes how long each
// item's name is. The note fills the order up to orderBytes.
const (
	orderItems    = 3
	itemNameBytes = 24
)

// orderStatuses are the statuses the schema allows; the orders go through
// them in turn.
var orderStatuses = [...]string{"placed", "paid", "shipped", "delivered", "cancelled"}

// orders makes the bodies of the orders scenario: orders of the shape
// examples/schemas/orders.json describes — orderId, customer, status,
// placedAt, items (sku, name, quantity, amount), total and a note — each
// exactly orderBytes long, the note taking up what the rest leaves. The
// orderId is the document's id (the stream takes it from /orderId) and its
// marker: run, scenario and a number, so no two orders of any run share
// one. The customer marks the run and scenario, as a post's author does:
// the store check reads the scenario's documents by it (a list field of
// the stream, indexed).
//
// Every string it writes is made of letters, digits, '-', ':', '.' and
// spaces (the run id, the words pool, digits, a time): nothing to escape,
// so it is appended between quotes as it is.
type orders struct {
	words    *words
	customer string
	idPrefix string
	placedAt string
	seq      atomic.Int64
}

func newOrders(w *words, runID, scenario string, placed time.Time) *orders {
	customer := authorFor(runID, scenario)
	return &orders{
		words:    w,
		customer: customer,
		idPrefix: customer + "-",
		placedAt: placed.UTC().Truncate(time.Millisecond).Format("2006-01-02T15:04:05.000Z07:00"),
	}
}

// append appends the next order to b and returns b with its orderId.
func (o *orders) append(b []byte) ([]byte, string) {
	start := len(b)
	n := o.seq.Add(1)
	b = append(b, `{"orderId":"`...)
	at := len(b)
	b = append(b, o.idPrefix...)
	b = strconv.AppendInt(b, n, 10)
	id := string(b[at:])
	b = append(b, `","customer":"`...)
	b = append(b, o.customer...)
	b = append(b, `","status":"`...)
	b = append(b, orderStatuses[n%int64(len(orderStatuses))]...)
	b = append(b, `","placedAt":"`...)
	b = append(b, o.placedAt...)
	b = append(b, `","items":[`...)
	var total int64
	for i := range orderItems {
		if i > 0 {
			b = append(b, ',')
		}
		qty, cents := int64(1+rand.IntN(5)), int64(100+rand.IntN(20000))
		total += qty * cents
		b = append(b, `{"sku":"SKU-`...)
		b = strconv.AppendInt(b, int64(100000+rand.IntN(900000)), 10)
		b = append(b, `","name":"`...)
		b = append(b, o.words.cut(itemNameBytes)...)
		b = append(b, `","quantity":`...)
		b = strconv.AppendInt(b, qty, 10)
		b = append(b, `,"amount":`...)
		b = appendCents(b, cents)
		b = append(b, '}')
	}
	b = append(b, `],"total":`...)
	b = appendCents(b, total)
	b = append(b, `,"note":"`...)
	note := orderBytes - (len(b) - start) - len(`"}`)
	b = append(b, o.words.cut(max(note, 1))...)
	return append(b, `"}`...), id
}

// appendCents appends an amount of cents as a decimal with two places,
// which the schema's multipleOf 0.01 takes: 1999 is 19.99, 100 is 1.00.
func appendCents(b []byte, cents int64) []byte {
	b = strconv.AppendInt(b, cents/100, 10)
	b = append(b, '.')
	if c := cents % 100; c < 10 {
		b = append(b, '0', byte('0'+c))
	} else {
		b = strconv.AppendInt(b, c, 10)
	}
	return b
}

// checkStreamScenario checks, before any load, that the server's streams
// (the streams file it runs with, given to the bench too) declare the
// stream scenario sc writes to, and that the stream takes the bench's
// documents as they are: one is made and put through doc.Parse and
// doc.Accept as the API does, and its id must be its orderId, which is how
// the check matches the 202s to the documents.
func checkStreamScenario(set *stream.Set, sc scenario, contentBytes int) (*stream.Stream, error) {
	var st *stream.Stream
	if set != nil {
		st = set.Lookup(sc.stream)
	}
	if st == nil {
		return nil, fmt.Errorf("scenario %s: the streams file declares no stream %s: give the file the server runs with (--streams-file or POSTPIPE_STREAMS_FILE; examples/streams.yaml declares %s), or leave %s out of --scenarios",
			sc.name, sc.stream, sc.stream, sc.name)
	}
	body, id := newOrders(newWords(contentBytes), "preflight", sc.name, time.Now()).append(nil)
	parsed, err := doc.Parse(body)
	if err == nil {
		var d doc.Document
		d, err = doc.Accept(st, parsed, time.Now(), func() string { return "" })
		if err == nil && d.ID != id {
			err = fmt.Errorf("the stream takes a document's id from %q, not /orderId: the check could not match an answer to its order", st.ID)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("scenario %s: the stream %s of %s does not take the bench's orders (examples/schemas/orders.json's shape): %w", sc.name, sc.stream, fileOf(set), err)
	}
	return st, nil
}

func fileOf(set *stream.Set) string {
	if set == nil || set.File == "" {
		return "the built-in streams"
	}
	return set.File
}
