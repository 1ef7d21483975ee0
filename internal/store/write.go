package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/postpipe/postpipe/internal/post"
)

// WriteBatch inserts posts with one unordered bulk write, stamping
// ingestedAt. A duplicate _id means the post was written before (a redelivery
// after a crash or rebalance) and counts as success. It reports how many
// posts were new and how many were already there.
//
// A post the store refuses for good (see permanentCodes) does not hold the
// others: they are written and counted, and the error is a *RejectedError
// (wrapped) that lists the refused ones. Any other failure is returned with
// zero counts, and the whole batch may be written again safely.
func (s *Store) WriteBatch(ctx context.Context, posts []post.Post) (inserted, duplicates int, err error) {
	if len(posts) == 0 {
		return 0, 0, nil
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	docs := make([]document, len(posts))
	for i, p := range posts {
		docs[i] = toDocument(p, now)
	}
	inserted, duplicates, refused, err := insertUnordered(ctx, s.coll, docs)
	if err != nil {
		return 0, 0, fmt.Errorf("write batch of %d: %w", len(posts), err)
	}
	if len(refused) > 0 {
		rej := &RejectedError{}
		for _, r := range refused {
			rej.add(r.index, posts[r.index].ID, r.reason("post", posts[r.index].ID))
		}
		return inserted, duplicates, fmt.Errorf("write batch of %d: %w", len(posts), rej)
	}
	return inserted, duplicates, nil
}

// RejectedError is WriteBatch's error when the store refused some documents
// of the batch for good: writing them again would fail the same way. Every
// other document of the batch was written, and WriteBatch's counts are
// theirs. The sink dead-letters the refused ones (it finds the error
// through the Rejected method) and commits the batch.
type RejectedError struct {
	// Documents are the refused documents, in the order of the batch.
	Documents []Rejection
}

// Rejection is one document the store refused for good.
type Rejection struct {
	// Index is the document's place in the batch given to WriteBatch.
	Index int
	ID    string
	// Err says why; it wraps post.ErrBadRecord and names the document.
	Err error
}

func (e *RejectedError) add(index int, id string, err error) {
	e.Documents = append(e.Documents, Rejection{Index: index, ID: id, Err: err})
}

func (e *RejectedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "the store refused %d document(s) for good", len(e.Documents))
	for i, r := range e.Documents {
		if i == 3 {
			fmt.Fprintf(&b, "; and %d more", len(e.Documents)-i)
			break
		}
		b.WriteString("; ")
		b.WriteString(r.Err.Error())
	}
	return b.String()
}

// Unwrap is the refusals' reasons, each wrapping post.ErrBadRecord.
func (e *RejectedError) Unwrap() []error {
	out := make([]error, len(e.Documents))
	for i, r := range e.Documents {
		out[i] = r.Err
	}
	return out
}

// Rejected returns the reason of each refused document by its index in the
// batch: what sink.Rejections asks of a writer's error.
func (e *RejectedError) Rejected() map[int]error {
	out := make(map[int]error, len(e.Documents))
	for _, r := range e.Documents {
		out[r.Index] = r.Err
	}
	return out
}

// duplicateKey is MongoDB's code for a write that repeats a unique key: here
// always _id (the collections' only unique index), so the document was
// written before.
const duplicateKey = 11000

// permanentCodes are the codes of a document's write error that say the
// document itself cannot be stored, whenever and however often it is
// written (MongoDB's src/mongo/base/error_codes.yml names them). A write
// error with one of them makes the document a rejection; the rest of the
// batch is written and the sink dead-letters that document.
//
// The list is short on purpose. A code not on it (a stepdown, a timeout,
// an interrupted operation, a full disk, a missing permission, a code
// added in a later server) is taken as passing: the whole batch fails and
// is written again, as before there were rejections. Dead-lettering a
// document the store would have taken a moment later loses nothing (the
// DLQ can be redriven) but needs a person; retrying a document it never
// takes wedges the stream, which the lag alerts show. An unknown code
// errs toward the retry. Add a code here only when it depends on the
// document alone.
var permanentCodes = map[int]string{
	// FerretDB 1.x gives BadValue for what its storage cannot hold: an
	// array nested directly in an array ({"a":[[1]]}: "nested arrays are
	// not supported"), a name with '$' or '.'. MongoDB gives it for a
	// document value it refuses, never for a passing state.
	2: "BadValue",
	// MongoDB refuses a document nested deeper than its limit (180
	// levels for a stored document) with Overflow.
	15: "Overflow",
	// Field names MongoDB refuses in a stored document.
	52: "DollarPrefixedFieldName",
	53: "InvalidIdField",
	55: "InvalidDBRef",
	56: "EmptyFieldName",
	57: "DottedFieldName",
	// A collection validator (a $jsonSchema or query rule a DBA added)
	// that the document does not pass.
	121: "DocumentValidationFailure",
	// The document over the BSON size limit: impossible for a 1 MB record
	// converted (a JSON byte grows to a few BSON bytes at most), but
	// permanent if it happens.
	10334: "BSONObjectTooLarge",
	17419: "document too large",
	// An index key over 1024 bytes, refused by MongoDB before 4.2 (and
	// after, with failIndexKeyTooLong): a listing field's value too long.
	17280: "KeyTooLong",
}

// writeOutcome is what one document's write error says.
type writeOutcome int

const (
	// passing: the failure may not happen again; the batch is retried.
	passing writeOutcome = iota
	// alreadyStored: the document was written before; a duplicate.
	alreadyStored
	// permanent: the document can never be stored; a rejection.
	permanent
)

// classify says what a document's write error with code means.
func classify(code int) writeOutcome {
	switch {
	case code == duplicateKey:
		return alreadyStored
	case permanentCodes[code] != "":
		return permanent
	}
	return passing
}

// refusal is a document of an insert that the server refused for good:
// its index in the documents inserted and the server's error.
type refusal struct {
	index int
	code  int
	msg   string
}

// maxReasonMessage bounds the server's message in a rejection's reason: a
// server may quote the whole document (FerretDB does), and the reason
// travels in a header of the dead letter, beside the record itself.
const maxReasonMessage = 512

// reason is the refusal as a bad record; noun and id name the document.
func (r refusal) reason(noun, id string) error {
	msg := r.msg
	if len(msg) > maxReasonMessage {
		cut := maxReasonMessage
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "…"
	}
	return fmt.Errorf("%w: %s %q refused by the store: %s (code %d, %s)", post.ErrBadRecord, noun, id, msg, r.code, permanentCodes[r.code])
}

// insertUnordered writes docs with one unordered bulk insert, so one
// duplicate or refused document does not stop the rest. A duplicate _id
// means the document was written before and counts as success; a document
// refused for good (classify) is returned in refused; any other failure is
// returned as err (with zero counts and no refusals), and the whole batch
// may be written again safely.
func insertUnordered[T any](ctx context.Context, coll *mongo.Collection, docs []T) (inserted, duplicates int, refused []refusal, err error) {
	res, err := coll.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	if err == nil {
		return len(res.InsertedIDs), 0, nil, nil
	}
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) {
		return 0, 0, nil, err
	}
	duplicates, refused, ok := sortWriteErrors(bwe, len(docs))
	if !ok {
		return 0, 0, nil, err
	}
	return len(docs) - duplicates - len(refused), duplicates, refused, nil
}

// sortWriteErrors sorts the write errors of an unordered insert of n
// documents into duplicates and refusals, in the order of the documents.
// It returns false when the batch must be retried: a write concern error
// (what was written may not last), a write error that may pass, or
// errors that do not name distinct documents of the batch.
func sortWriteErrors(bwe mongo.BulkWriteException, n int) (duplicates int, refused []refusal, ok bool) {
	if bwe.WriteConcernError != nil || len(bwe.WriteErrors) == 0 {
		return 0, nil, false
	}
	seen := make(map[int]bool, len(bwe.WriteErrors))
	for _, we := range bwe.WriteErrors {
		if we.Index < 0 || we.Index >= n || seen[we.Index] {
			return 0, nil, false
		}
		seen[we.Index] = true
		switch classify(we.Code) {
		case alreadyStored:
			duplicates++
		case permanent:
			msg := we.Message
			if len(we.Details) > 0 {
				// What a validator found wrong (MongoDB 5.0 and later).
				msg += "; details: " + we.Details.String()
			}
			refused = append(refused, refusal{index: we.Index, code: we.Code, msg: msg})
		default:
			return 0, nil, false
		}
	}
	slices.SortFunc(refused, func(a, b refusal) int { return a.index - b.index })
	return duplicates, refused, true
}

// Insert writes one post now (the direct path) and returns it as stored.
// It returns post.ErrExists when a post with that id is already stored.
func (s *Store) Insert(ctx context.Context, p post.Post) (post.Post, error) {
	d := toDocument(p, s.now().UTC().Truncate(time.Millisecond))
	if _, err := s.coll.InsertOne(ctx, d); err != nil {
		if mongo.IsDuplicateKeyError(err) {
			return post.Post{}, post.ErrExists
		}
		return post.Post{}, fmt.Errorf("insert post %s: %w", p.ID, err)
	}
	return d.post(), nil
}

// Fingerprints returns the stored input fingerprint of each post in ids
// that is stored ("" for one stored without a fingerprint), in one query
// that reads nothing else.
func (s *Store) Fingerprints(ctx context.Context, ids []string) (map[string]string, error) {
	fps := make(map[string]string, len(ids))
	if len(ids) == 0 {
		return fps, nil
	}
	cur, err := s.coll.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}},
		options.Find().SetProjection(bson.D{{Key: "fp", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("read fingerprints of %d posts: %w", len(ids), err)
	}
	var docs []struct {
		ID string `bson:"_id"`
		FP string `bson:"fp"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("read fingerprints of %d posts: %w", len(ids), err)
	}
	for _, d := range docs {
		fps[d.ID] = d.FP
	}
	return fps, nil
}
