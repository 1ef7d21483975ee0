package store

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/postpipe/postpipe/internal/doc"
	"github.com/postpipe/postpipe/internal/post"
	"github.com/postpipe/postpipe/internal/testkit"
)

// TestDocsWriteBatchRejectsOnlyTheRefused: a document the store refuses for
// good (FerretDB's nested arrays, a body the conversion refuses) is
// reported with its index and reason, and every other document of the
// batch is written and counted.
func TestDocsWriteBatchRejectsOnlyTheRefused(t *testing.T) {
	d := openDocs(t, testkit.Store(t).URI(), "rejects", nil)
	ctx := testCtx(t)
	at := time.Now().UTC().Truncate(time.Millisecond)
	n := 0
	good := func() doc.Document {
		n++
		return doc.Document{ID: fmt.Sprintf("good-%d", n), Body: fmt.Appendf(nil, `{"n":%d,"a":[1,{"b":[2]}]}`, n), CreatedAt: at}
	}
	nested := func(id string) doc.Document {
		return doc.Document{ID: id, Body: []byte(`{"a":[[1],2]}`), CreatedAt: at}
	}
	unconvertible := func(id string) doc.Document {
		return doc.Document{ID: id, Body: []byte(`{"_id":1}`), CreatedAt: at}
	}
	stored := good()
	if _, _, err := d.WriteBatch(ctx, []doc.Document{stored}); err != nil {
		t.Fatalf("WriteBatch: %v", err)
	}

	tests := []struct {
		name             string
		batch            []doc.Document
		wantIns, wantDup int
		// want are the rejected documents' indexes and what each
		// reason says besides the id.
		want map[int]string
	}{
		{
			name:    "a nested array",
			batch:   []doc.Document{good(), nested("nested-1"), good()},
			wantIns: 2, want: map[int]string{1: "nested arrays are not supported"},
		},
		{
			name:    "a body the conversion refuses",
			batch:   []doc.Document{good(), good(), unconvertible("unconv-1")},
			wantIns: 2, want: map[int]string{2: `field "/_id": the store keeps this member itself`},
		},
		{
			name:    "both, among new and stored documents",
			batch:   []doc.Document{unconvertible("unconv-2"), stored, good(), nested("nested-2"), good()},
			wantIns: 2, wantDup: 1, want: map[int]string{0: "the store keeps this member itself", 3: "nested arrays"},
		},
		{
			name:  "every document refused",
			batch: []doc.Document{nested("nested-3"), unconvertible("unconv-3")},
			want:  map[int]string{0: "nested arrays", 1: "the store keeps this member itself"},
		},
		{
			name:  "none left to write",
			batch: []doc.Document{unconvertible("unconv-4")},
			want:  map[int]string{0: "the store keeps this member itself"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ins, dup, err := d.WriteBatch(ctx, tt.batch)
			var rej *RejectedError
			if !errors.As(err, &rej) {
				t.Fatalf("WriteBatch = (%d, %d, %v), want a *RejectedError", ins, dup, err)
			}
			if ins != tt.wantIns || dup != tt.wantDup {
				t.Errorf("WriteBatch = (inserted %d, duplicates %d), want (%d, %d)", ins, dup, tt.wantIns, tt.wantDup)
			}
			got := rej.Rejected()
			if !slices.Equal(slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(tt.want))) {
				t.Fatalf("rejected %v, want indexes %v", got, slices.Sorted(maps.Keys(tt.want)))
			}
			for i, r := range rej.Documents {
				if i > 0 && rej.Documents[i-1].Index >= r.Index {
					t.Errorf("rejections out of the batch's order: %v", rej.Documents)
				}
				if r.ID != tt.batch[r.Index].ID {
					t.Errorf("rejection %d names %q, want %q", r.Index, r.ID, tt.batch[r.Index].ID)
				}
			}
			for i, part := range tt.want {
				reason := got[i]
				id := tt.batch[i].ID
				if !errors.Is(reason, post.ErrBadRecord) || !strings.Contains(reason.Error(), fmt.Sprintf("%q", id)) || !strings.Contains(reason.Error(), part) {
					t.Errorf("document %d (%s) rejected because %q; want a bad record naming %q and saying %q", i, id, reason, id, part)
				}
				if _, err := d.Get(ctx, id); !errors.Is(err, post.ErrNotFound) {
					t.Errorf("rejected document %s: Get = %v, want not found", id, err)
				}
				if !strings.Contains(err.Error(), id) {
					t.Errorf("WriteBatch's error %q does not name the rejected %s", err, id)
				}
			}
			for i, dc := range tt.batch {
				if _, ok := tt.want[i]; ok {
					continue
				}
				if _, err := d.Get(ctx, dc.ID); err != nil {
					t.Errorf("document %d (%s) of the batch not stored: %v", i, dc.ID, err)
				}
			}
		})
	}
	if got, err := d.coll.CountDocuments(ctx, bson.D{}); err != nil || got != int64(n) {
		t.Errorf("%d documents stored (%v), want the %d good ones", got, err, n)
	}
}

// TestRejectionReasonIsBounded: a server that quotes the whole document in
// its message does not make a reason as large as the document.
func TestRejectionReasonIsBounded(t *testing.T) {
	msg := strings.Repeat("é", 100_000) // two bytes each: a cut must not split one
	err := refusal{index: 0, code: 2, msg: msg}.reason("document", "d1")
	s := err.Error()
	if len(s) > 2*maxReasonMessage || !strings.Contains(s, `"d1"`) || !strings.Contains(s, "code 2, BadValue") {
		t.Errorf("reason of %d bytes: %.200q…; want at most %d bytes naming d1 and the code", len(s), s, 2*maxReasonMessage)
	}
	if !strings.Contains(s, strings.Repeat("é", maxReasonMessage/2-1)+"…") {
		t.Errorf("reason %.200q… does not keep the message's start up to a whole character", s)
	}
}

func TestClassifyWriteErrorCodes(t *testing.T) {
	for _, tt := range []struct {
		code int
		want writeOutcome
	}{
		{11000, alreadyStored},
		// The document itself: refused for good.
		{2, permanent}, {15, permanent}, {52, permanent}, {53, permanent}, {55, permanent},
		{56, permanent}, {57, permanent}, {121, permanent}, {10334, permanent}, {17419, permanent},
		{17280, permanent},
		// Anything else may pass: the batch is retried.
		{0, passing},
		{1, passing},       // InternalError
		{6, passing},       // HostUnreachable
		{7, passing},       // HostNotFound
		{13, passing},      // Unauthorized: a setting, not the document
		{24, passing},      // LockTimeout
		{50, passing},      // MaxTimeMSExpired
		{64, passing},      // WriteConcernFailed
		{89, passing},      // NetworkTimeout
		{91, passing},      // ShutdownInProgress
		{112, passing},     // WriteConflict
		{189, passing},     // PrimarySteppedDown
		{262, passing},     // ExceededTimeLimit
		{9001, passing},    // SocketException
		{10107, passing},   // NotWritablePrimary
		{11600, passing},   // InterruptedAtShutdown
		{11602, passing},   // InterruptedDueToReplStateChange
		{13435, passing},   // NotPrimaryNoSecondaryOk
		{14031, passing},   // OutOfDiskSpace
		{11001, passing},   // a legacy duplicate key: not what the driver reports for an insert
		{424242, passing},  // a code of a later server
		{-1, passing},      // the driver's own
		{1 << 30, passing}, // anything
		{duplicateKey + 1, passing},
	} {
		if got := classify(tt.code); got != tt.want {
			t.Errorf("classify(%d) = %d, want %d", tt.code, got, tt.want)
		}
	}
}

// TestSortWriteErrors: an unordered insert's write errors make duplicates
// and rejections only when every one is either; anything that may pass,
// or errors the batch cannot account for, retry the whole batch.
func TestSortWriteErrors(t *testing.T) {
	we := func(index, code int) mongo.BulkWriteError {
		return mongo.BulkWriteError{WriteError: mongo.WriteError{Index: index, Code: code, Message: fmt.Sprintf("error %d", code)}}
	}
	tests := []struct {
		name    string
		bwe     mongo.BulkWriteException
		dups    int
		refused []int // indexes
		retry   bool
	}{
		{name: "duplicates", bwe: mongo.BulkWriteException{WriteErrors: []mongo.BulkWriteError{we(0, 11000), we(3, 11000)}}, dups: 2},
		{name: "rejections and duplicates", bwe: mongo.BulkWriteException{WriteErrors: []mongo.BulkWriteError{we(4, 121), we(0, 11000), we(2, 2)}}, dups: 1, refused: []int{2, 4}},
		{name: "a rejection beside an error that may pass", bwe: mongo.BulkWriteException{WriteErrors: []mongo.BulkWriteError{we(1, 2), we(2, 91)}}, retry: true},
		{name: "an unknown code", bwe: mongo.BulkWriteException{WriteErrors: []mongo.BulkWriteError{we(1, 424242)}}, retry: true},
		{name: "a write concern error", bwe: mongo.BulkWriteException{
			WriteConcernError: &mongo.WriteConcernError{Code: 64, Message: "waiting for replication timed out"},
			WriteErrors:       []mongo.BulkWriteError{we(1, 121)},
		}, retry: true},
		{name: "nothing in it", bwe: mongo.BulkWriteException{}, retry: true},
		{name: "an index out of the batch", bwe: mongo.BulkWriteException{WriteErrors: []mongo.BulkWriteError{we(5, 2)}}, retry: true},
		{name: "one document twice", bwe: mongo.BulkWriteException{WriteErrors: []mongo.BulkWriteError{we(1, 2), we(1, 121)}}, retry: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dups, refused, ok := sortWriteErrors(tt.bwe, 5)
			if tt.retry {
				if ok {
					t.Errorf("sortWriteErrors = (%d duplicates, refused %v), want the batch retried", dups, refused)
				}
				return
			}
			var idx []int
			for _, r := range refused {
				idx = append(idx, r.index)
				if r.msg != fmt.Sprintf("error %d", r.code) {
					t.Errorf("refusal %+v lost the server's message", r)
				}
			}
			if !ok || dups != tt.dups || !slices.Equal(idx, tt.refused) {
				t.Errorf("sortWriteErrors = (%d, %v, %v), want (%d, %v, true)", dups, idx, ok, tt.dups, tt.refused)
			}
		})
	}
}
