package kafka

import "github.com/postpipe/postpipe/internal/post"

// MaxRecordBytes is the largest record batch postpipe produces
// (ProducerBatchMaxBytes) and the max.message.bytes its topics are created
// with: 1 MiB, just under the broker default of 1,048,588, so it holds on a
// topic created with the broker's defaults too. The API refuses a post whose
// value would be larger than post.MaxEncodedBytes, which leaves
// recordOverhead for the key, headers and batch framing: every post that
// passes validation fits.
const MaxRecordBytes = 1 << 20

// recordOverhead is what a one-record batch adds to the value: the batch
// header (61 bytes), the record's varints, the 36-byte key and the trace
// headers (traceparent and tracestate, bounded in practice to well under a
// kilobyte by W3C Trace Context).
const recordOverhead = MaxRecordBytes - post.MaxEncodedBytes

// A post at the API's limit must fit a record: this fails to compile
// otherwise (a negative constant cannot convert to uint).
const _ = uint(recordOverhead - 8<<10)
