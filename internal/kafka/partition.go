package kafka

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TopicPartitioner places the records of the keyed topics by their key and
// every other topic's as kgo.StickyPartitioner does (see ProducerOpts).
//
// A keyed topic is a stream with changes (stream.Stream.Changes): all the
// ops on one document id must land in one partition, where the offset
// orders them, so its records are placed by Kafka's default key hashing
// (murmur2 of the key, the sign bit masked, modulo the partition count, as
// the Java clients do; kgo.StickyKeyPartitioner(nil)). The same key so
// lands on the same partition from any Kafka client, and as long as the
// topic's partition count does not change. A keyed record never falls back
// to another partition while its own is unavailable: it waits, or fails.
// A record without a key on a keyed topic is placed sticky.
func TopicPartitioner(keyed []string) kgo.Partitioner {
	return &topicPartitioner{
		keyed:  slices.Clone(keyed),
		key:    kgo.StickyKeyPartitioner(nil),
		sticky: kgo.StickyPartitioner(),
	}
}

type topicPartitioner struct {
	keyed       []string
	key, sticky kgo.Partitioner
}

// ForTopic is asked once per topic by the client, which keeps what it
// returns: the choice costs nothing per record.
func (p *topicPartitioner) ForTopic(topic string) kgo.TopicPartitioner {
	if slices.Contains(p.keyed, topic) {
		return p.key.ForTopic(topic)
	}
	return p.sticky.ForTopic(topic)
}
