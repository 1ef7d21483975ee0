package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Producer batching: how many records the API's producer packs into each
// produce request and each partition batch over a scenario's measured
// windows. The broker's CPU per record falls with the records per request
// (a request's fixed cost — parsing, the log append, the replication
// bookkeeping — is spread over them), and the producer's linger trades
// latency for them. The figures come from the API's own metrics (GET
// <target>/metrics, served on the API's port when it runs without an admin
// listener, as deploy/bench.sh runs it), scraped just before and just after
// each measured window: where they cannot be read (an admin listener, a
// server that does not export them) the scenario reports none.

// The series read from /metrics (internal/metrics/producer.go). The batch
// histogram's sum is the record count: it counts every record a broker
// accepted, fire-and-forget's too, which postpipe_produce_records_total
// does not.
const (
	metricProducerRequests = "postpipe_producer_requests_total"      // counter: produce requests written
	metricBatchRecordsSum  = "postpipe_producer_batch_records_sum"   // records in the batches accepted
	metricBatchRecordsN    = "postpipe_producer_batch_records_count" // batches accepted
)

// metricsPath is where the API serves its metrics.
const metricsPath = "/metrics"

// maxMetricsBytes bounds what is read of a /metrics page.
const maxMetricsBytes = 8 << 20

// scrapeTimeout bounds one scrape: it stands between the measured windows.
const scrapeTimeout = 5 * time.Second

// ProducerFigures is what the API's producer did over a scenario's
// measured windows, summed over its turns.
type ProducerFigures struct {
	Requests          int64   `json:"requests"`            // produce requests written to the brokers
	RequestsPerSecond float64 `json:"requests_per_second"` // over the measured windows
	Records           int64   `json:"records"`             // records in the batches the brokers accepted
	Batches           int64   `json:"batches"`             // partition batches the brokers accepted
	// RecordsPerRequest is Records ÷ Requests, RecordsPerBatch Records ÷
	// Batches; absent where nothing was produced.
	RecordsPerRequest *float64 `json:"records_per_request,omitempty"`
	RecordsPerBatch   *float64 `json:"records_per_batch,omitempty"`
}

// producerCounters is one scrape of the producer's series, or the growth
// between two.
type producerCounters struct {
	requests, records, batches float64
}

// since is the growth from before to c; false where a counter fell (the
// API restarted in between: the growth is unknown).
func (c producerCounters) since(before producerCounters) (producerCounters, bool) {
	d := producerCounters{requests: c.requests - before.requests, records: c.records - before.records, batches: c.batches - before.batches}
	return d, d.requests >= 0 && d.records >= 0 && d.batches >= 0
}

func (c producerCounters) add(d producerCounters) producerCounters {
	return producerCounters{requests: c.requests + d.requests, records: c.records + d.records, batches: c.batches + d.batches}
}

// producerWindows sums a scenario's measured windows up. A window without
// both scrapes spoils the sum: a part would pass for the whole.
type producerWindows struct {
	sum     producerCounters
	windows int
	spoiled bool
}

// add takes one measured window's scrapes, before and after it.
func (w *producerWindows) add(before producerCounters, okBefore bool, after producerCounters, okAfter bool) {
	d, grew := after.since(before)
	if !okBefore || !okAfter || !grew {
		w.spoiled = true
		return
	}
	w.sum = w.sum.add(d)
	w.windows++
}

// figures are the sum's figures over elapsed, the measured windows' time;
// nil when any window could not be read.
func (w *producerWindows) figures(elapsed time.Duration) *ProducerFigures {
	if w.spoiled || w.windows == 0 {
		return nil
	}
	s := w.sum
	f := &ProducerFigures{Requests: int64(math.Round(s.requests)), Records: int64(math.Round(s.records)), Batches: int64(math.Round(s.batches))}
	if secs := elapsed.Seconds(); secs > 0 {
		f.RequestsPerSecond = round3(s.requests / secs)
	}
	if s.requests > 0 {
		v := round3(s.records / s.requests)
		f.RecordsPerRequest = &v
	}
	if s.batches > 0 {
		v := round3(s.records / s.batches)
		f.RecordsPerBatch = &v
	}
	return f
}

// scrapeProducer reads the producer's series from target's /metrics; false
// where the page cannot be had or lacks any of them.
func scrapeProducer(ctx context.Context, client *http.Client, target string) (producerCounters, bool) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), scrapeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target+metricsPath, nil)
	if err != nil {
		return producerCounters{}, false
	}
	// The text format, not OpenMetrics or protobuf.
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := client.Do(req)
	if err != nil {
		return producerCounters{}, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
		return producerCounters{}, false
	}
	return parseProducerMetrics(io.LimitReader(resp.Body, maxMetricsBytes))
}

// parseProducerMetrics reads the producer's series from a /metrics page,
// each summed over its label sets; false unless all three are there.
func parseProducerMetrics(r io.Reader) (producerCounters, bool) {
	var (
		c     producerCounters
		found = map[string]bool{}
	)
	for _, s := range parseSamples(r, metricProducerRequests, metricBatchRecordsSum, metricBatchRecordsN) {
		found[s.name] = true
		switch s.name {
		case metricProducerRequests:
			c.requests += s.value
		case metricBatchRecordsSum:
			c.records += s.value
		case metricBatchRecordsN:
			c.batches += s.value
		}
	}
	return c, len(found) == 3
}

// metricSample is one line of the Prometheus text format.
type metricSample struct {
	name   string
	labels map[string]string
	value  float64
}

// parseSamples reads the samples of the named series from a page of the
// Prometheus text exposition format (version 0.0.4; OpenMetrics' samples
// read alike). It is tolerant: comments, blank lines, lines of other
// series, lines it cannot read and values that are not finite numbers
// (NaN, ±Inf) are skipped, never an error — the page is the server's, and
// a line the bench does not understand must not cost it the others.
func parseSamples(r io.Reader, names ...string) []metricSample {
	var out []metricSample
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadString('\n')
		if s, ok := parseSample(line); ok && slices.Contains(names, s.name) {
			out = append(out, s)
		}
		if err != nil {
			return out
		}
	}
}

// parseSample reads a sample line: a metric name, its labels in braces
// (optional), the value and a timestamp (optional), separated by blanks.
func parseSample(line string) (metricSample, bool) {
	line = strings.TrimSpace(line)
	if line == "" || line[0] == '#' {
		return metricSample{}, false
	}
	i := 0
	for i < len(line) && isNameChar(line[i], i == 0) {
		i++
	}
	if i == 0 {
		return metricSample{}, false
	}
	s := metricSample{name: line[:i]}
	rest := line[i:]
	if strings.HasPrefix(rest, "{") {
		labels, n, ok := parseLabels(rest)
		if !ok {
			return metricSample{}, false
		}
		s.labels, rest = labels, rest[n:]
	}
	if rest == "" || (rest[0] != ' ' && rest[0] != '\t') {
		return metricSample{}, false
	}
	fields := strings.Fields(rest)
	if len(fields) < 1 || len(fields) > 2 {
		return metricSample{}, false
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return metricSample{}, false
	}
	if len(fields) == 2 {
		if _, err := strconv.ParseFloat(fields[1], 64); err != nil {
			return metricSample{}, false
		}
	}
	s.value = v
	return s, true
}

// isNameChar says whether b may stand in a metric name: letters, digits
// (not first), _ and : (a label name takes no :).
func isNameChar(b byte, first bool) bool {
	switch {
	case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b == '_', b == ':':
		return true
	case b >= '0' && b <= '9':
		return !first
	}
	return false
}

// parseLabels reads {name="value",…} at the start of s — values may hold
// any character, with \\, \" and \n escaped — and returns the labels and
// how many bytes they took.
func parseLabels(s string) (map[string]string, int, bool) {
	labels := map[string]string{}
	i := 1 // past '{'
	for {
		i = skipBlanks(s, i)
		if i < len(s) && s[i] == '}' {
			return labels, i + 1, true
		}
		start := i
		for i < len(s) && isNameChar(s[i], i == start) && s[i] != ':' {
			i++
		}
		if i == start {
			return nil, 0, false
		}
		name := s[start:i]
		i = skipBlanks(s, i)
		if i >= len(s) || s[i] != '=' {
			return nil, 0, false
		}
		i = skipBlanks(s, i+1)
		if i >= len(s) || s[i] != '"' {
			return nil, 0, false
		}
		i++
		var v strings.Builder
		for {
			if i >= len(s) {
				return nil, 0, false // the value never closed
			}
			c := s[i]
			if c == '"' {
				i++
				break
			}
			if c == '\\' {
				if i+1 >= len(s) {
					return nil, 0, false
				}
				switch s[i+1] {
				case 'n':
					v.WriteByte('\n')
				case '\\', '"':
					v.WriteByte(s[i+1])
				default:
					return nil, 0, false
				}
				i += 2
				continue
			}
			v.WriteByte(c)
			i++
		}
		labels[name] = v.String()
		i = skipBlanks(s, i)
		switch {
		case i < len(s) && s[i] == ',':
			i++
		case i < len(s) && s[i] == '}':
			return labels, i + 1, true
		default:
			return nil, 0, false
		}
	}
}

// skipBlanks is the first index from i in s that is no space or tab.
func skipBlanks(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}

// producerCols are the producer table's columns.
var producerCols = []string{"scenario", "produce requests", "produce req/s", "records / request", "records / batch"}

// producerIntro says where the producer table's figures come from.
const producerIntro = "The API's producer over each measured window, from its /metrics scraped just before and after each (postpipe_producer_requests_total; postpipe_producer_batch_records, whose sum counts every record a broker accepted, fire-and-forget's too): produce requests written to the brokers, their rate, records per produce request and records per partition batch. The broker's CPU per record falls as the records per request grow; the producer's linger trades latency for them."

// producerRows are the producer's figures of each scenario that has them.
func producerRows(res *Results) [][]string {
	var rows [][]string
	ratio := func(v *float64) string {
		if v == nil {
			return "–"
		}
		return num(*v)
	}
	for _, s := range res.Scenarios {
		if p := s.Producer; p != nil {
			rows = append(rows, []string{s.Name, fmt.Sprint(p.Requests), num(p.RequestsPerSecond), ratio(p.RecordsPerRequest), ratio(p.RecordsPerBatch)})
		}
	}
	return rows
}
