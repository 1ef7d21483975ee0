package post

// Headers on a dead-lettered record, beside the original key, value and
// headers, saying why it could not be stored and where it came from. The
// sink writes them and the dlq tools read them: they are part of the record
// format, like the value, so they live here rather than in either.
const (
	DLQHeaderError           = "postpipe-error"
	DLQHeaderSourceTopic     = "postpipe-source-topic"
	DLQHeaderSourcePartition = "postpipe-source-partition"
	DLQHeaderSourceOffset    = "postpipe-source-offset"
	DLQHeaderSourceTimestamp = "postpipe-source-timestamp"
	DLQHeaderFailedAt        = "postpipe-failed-at"
)
