package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// GroupReading is the sink's consumer group as last read from the broker:
// the dashboard's sampler reads, each second, the end offset of every
// partition of every stream's topic and the group's committed offset on it.
// It is the group's progress whether or not any sink runs or is scraped.
type GroupReading struct {
	// At is when the reading was taken: the last one that worked, the zero
	// time before the first.
	At time.Time
	// Partitions are the streams' topics' partitions.
	Partitions []GroupPartition
}

// GroupPartition is the group's progress on one partition of a stream's
// topic. Committed is the partition's start offset where the group has not
// committed yet (where a new sink begins).
type GroupPartition struct {
	Stream         string
	Committed, End int64
}

// GroupStaleAfter is how old a reading may be and still be exported: past
// it, postpipe_group_lag_records and postpipe_group_committed_records are
// left out (no figure rather than an old one) while
// postpipe_group_read_age_seconds keeps growing.
const GroupStaleAfter = time.Minute

var (
	groupLagDesc = prometheus.NewDesc(namespace+"_group_lag_records",
		"Records of the stream's topic the sink's consumer group has not committed (end offset minus committed offset, summed over the topic's partitions), as read from the broker; absent while the last reading that worked is over a minute old.",
		[]string{streamLabel}, nil)
	groupCommittedDesc = prometheus.NewDesc(namespace+"_group_committed_records",
		"Sum of the sink's consumer group's committed offsets on the stream's topic's partitions (the start offset where it has not committed), as read from the broker: it moves whenever the group commits; absent while the last reading that worked is over a minute old.",
		[]string{streamLabel}, nil)
	groupAgeDesc = prometheus.NewDesc(namespace+"_group_read_age_seconds",
		"Seconds since the consumer group's offsets were last read from the broker successfully (since the process started when none has worked yet).",
		nil, nil)
)

// Group registers the consumer group's families, computed at each scrape
// from read, which must return at once (the sampler's snapshot, not a call
// to the broker). They exist on every process that runs the sampler (api
// and run), so the group's lag is known with no sink running.
func (m *Metrics) Group(read func() GroupReading) {
	m.reg.MustRegister(groupCollector{read: read, started: time.Now(), now: time.Now})
}

type groupCollector struct {
	read    func() GroupReading
	started time.Time
	now     func() time.Time
}

func (c groupCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- groupLagDesc
	ch <- groupCommittedDesc
	ch <- groupAgeDesc
}

func (c groupCollector) Collect(ch chan<- prometheus.Metric) {
	r := c.read()
	at := r.At
	if at.IsZero() {
		at = c.started
	}
	age := max(c.now().Sub(at), 0)
	ch <- prometheus.MustNewConstMetric(groupAgeDesc, prometheus.GaugeValue, age.Seconds())
	if r.At.IsZero() || age > GroupStaleAfter {
		return
	}
	type sums struct{ lag, committed int64 }
	var order []string
	byStream := map[string]*sums{}
	for _, p := range r.Partitions {
		s, ok := byStream[p.Stream]
		if !ok {
			s = new(sums)
			byStream[p.Stream] = s
			order = append(order, p.Stream)
		}
		s.lag += max(p.End-p.Committed, 0)
		s.committed += p.Committed
	}
	for _, st := range order {
		s := byStream[st]
		ch <- prometheus.MustNewConstMetric(groupLagDesc, prometheus.GaugeValue, float64(s.lag), st)
		ch <- prometheus.MustNewConstMetric(groupCommittedDesc, prometheus.GaugeValue, float64(s.committed), st)
	}
}
