package main

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/postpipe/postpipe/internal/bench"
	"github.com/postpipe/postpipe/internal/config"
	"github.com/postpipe/postpipe/internal/post"
	"github.com/postpipe/postpipe/internal/testkit"
)

// 'make test-chaos' (deploy/test-chaos.sh) runs TestChaos: each fault
// happens while the bench client keeps a steady open-model load on a real api process
// with two real sink processes, against real Apache Kafka and the standalone
// store; then the bench client waits for the sink to drain and checks that
// every post answered 202 is stored exactly once. CHAOS_SHORT=1 shortens
// the loads for CI; CHAOS_ONLY=REGEXP runs only the scenarios whose name it
// matches. One scenario adds a second stream (orders) beside posts: see
// chaos_streams_test.go; one an update storm of changes checked against a
// model: see chaos_changes_test.go.

// chaosRow is one line of the table TestChaos prints.
type chaosRow struct {
	scenario                               string
	sent, accepted, unavailable, otherErrs int64
	lost, duplicated                       int64
	// reordered: documents whose changes were applied out of order (the
	// update storm's rows, modelled; "-" in the others).
	reordered  int64
	modelled   bool
	maxLatency time.Duration
	maxRSS     int64 // kB
	// failover is how long a killed sink's partitions went unconsumed
	// (the scenarios that kill sinks; empty otherwise).
	failover string
}

// chaosRig is one scenario's pipeline and the scripts that break it.
type chaosRig struct {
	t        *testing.T
	env      map[string]string
	apiAddr  string
	base     string
	api      atomic.Pointer[extProc]
	sinks    []*extProc
	kafkaCmd string // deploy/kafka/kafka.sh
	storeCmd string // deploy/store/store.sh
	adm      *kadm.Client
	// failedOver, when a scenario sets it, goes into its row of the table.
	failedOver string
	// orders, when the scenario's before hook sets it (withOrders), is a
	// second stream under load beside posts: the api and sinks get a
	// streams file, and the scenario has a row per stream.
	orders *ordersLoad
	// storm, when the scenario's before hook sets it (withUpdateStorm),
	// changes posts beside the load, checked against a model: a row of
	// its own.
	storm *updateStorm
}

// Failover targets: a sink SIGKILLed and restarted at once (static group
// membership) consumes its partitions again within restartTarget; when it
// does not come back, the survivor takes them over within the session
// timeout and takeoverMargin.
const (
	restartTarget  = 5 * time.Second
	takeoverMargin = 5 * time.Second
)

// produceTimeout is the API's (the default); a 503 must come within it.
const produceTimeout = 5 * time.Second

// The load is open: chaosRate posts a second arrive whatever the pipeline
// does, so a stalled API cannot slow the load down and hide its stall. The
// client allows enough requests in flight to cover a produce timeout's worth
// of them, so what waits is the server, not the client's queue.
const (
	chaosRate   = 200
	chaosMaxVUs = 2 * chaosRate * int(produceTimeout/time.Second)
)

func TestChaos(t *testing.T) {
	brokers, uri := os.Getenv("POSTPIPE_TEST_KAFKA_BROKERS"), os.Getenv("POSTPIPE_TEST_MONGODB_URI")
	kafkaCmd, storeCmd := os.Getenv("POSTPIPE_TEST_KAFKA_CMD"), os.Getenv("POSTPIPE_TEST_STORE_CMD")
	if suite != "chaos" || brokers == "" || uri == "" || kafkaCmd == "" || storeCmd == "" {
		skipOutside(t, "chaos", "the fault suite: run 'make test-chaos' (sets POSTPIPE_TEST_SUITE=chaos and the broker, store and script variables)")
	}
	load := 40 * time.Second
	if os.Getenv("CHAOS_SHORT") != "" {
		load = 20 * time.Second
	}

	// CHAOS_ONLY picks scenarios by name (deploy/test-chaos.sh).
	var only *regexp.Regexp
	if s := os.Getenv("CHAOS_ONLY"); s != "" {
		var err error
		if only, err = regexp.Compile(s); err != nil {
			t.Fatalf("CHAOS_ONLY=%q: %v", s, err)
		}
	}
	ran := 0

	var rows []chaosRow
	t.Cleanup(func() { printChaosTable(rows) })
	// before, when set, prepares what the scenario runs on (and registers
	// its teardown); it runs only when the scenario does.
	var before func(r *chaosRig)
	scenario := func(name string, brokersVar string, dur time.Duration, fault func(r *chaosRig, l time.Duration)) {
		if only != nil && !only.MatchString(name) {
			return
		}
		ran++
		t.Run(name, func(t *testing.T) {
			env, _ := realEnv(t, brokersVar)
			if strings.Contains(name, "SIGKILLed") {
				// The failover scenarios time the default session timeout.
				delete(env, "POSTPIPE_KAFKA_SESSION_TIMEOUT")
			}
			r := &chaosRig{t: t, env: env, kafkaCmd: kafkaCmd, storeCmd: storeCmd}
			if before != nil {
				before(r)
			}
			for _, row := range r.run(name, dur, fault) {
				rows = append(rows, row)
				if row.lost > 0 || row.duplicated > 0 || row.reordered > 0 {
					t.Errorf("%s: %d lost, %d duplicated, %d reordered", row.scenario, row.lost, row.duplicated, row.reordered)
				}
			}
		})
	}

	scenario("sink SIGKILLed and restarted at once, up to 5 times", "POSTPIPE_TEST_KAFKA_BROKERS", load, func(r *chaosRig, l time.Duration) {
		r.killAndRestart(l, 5)
	})

	// The same kills while posts and orders interleave: one sink group
	// consumes both topics, and each stream must keep its promise in its
	// own collection (a row per stream).
	before = withOrders
	scenario("sink SIGKILLed and restarted at once, two streams", "POSTPIPE_TEST_KAFKA_BROKERS", load, func(r *chaosRig, l time.Duration) {
		r.killAndRestart(l, 5)
	})

	// The same kills while a few dozen posts keep changing (put, patch,
	// delete): every post must end as the model of its accepted ops says.
	before = withUpdateStorm
	scenario("sink SIGKILLed and restarted at once, update storm", "POSTPIPE_TEST_KAFKA_BROKERS", load, func(r *chaosRig, l time.Duration) {
		r.killAndRestart(l, 3)
	})
	before = nil

	// Nothing comes back: the group gives the dead member's partitions to
	// the survivor after the session timeout (the default one, not the
	// short one of the other scenarios).
	takeoverLoad := max(load, 15*time.Second+config.Default().KafkaSessionTimeout)
	scenario("sink SIGKILLed, not restarted", "POSTPIPE_TEST_KAFKA_BROKERS", takeoverLoad, func(r *chaosRig, l time.Duration) {
		time.Sleep(3 * time.Second)
		session := config.Default().KafkaSessionTimeout
		d := r.failover(1, "")
		r.t.Logf("SIGKILLed sink 2 for good; sink 1 consumed its partitions after %s (session timeout %s)", d.Round(time.Millisecond), session)
		r.failedOver = fmt.Sprintf("takeover: %.1f s (session %s)", d.Seconds(), session)
		if d > session+takeoverMargin {
			r.t.Errorf("the survivor took %s to take over, over the session timeout %s + %s", d.Round(time.Millisecond), session, takeoverMargin)
		}
	})

	scenario("store stopped 10 s", "POSTPIPE_TEST_KAFKA_BROKERS", load, func(r *chaosRig, l time.Duration) {
		time.Sleep(5 * time.Second)
		r.script(r.storeCmd, "down")
		stopped := time.Now()
		// The batch being written when the store went away cannot be
		// committed; give it a moment to fail, then nothing may move.
		time.Sleep(2 * time.Second)
		before := r.committed()
		polls, notReady := 0, 0
		for time.Since(stopped) < 10*time.Second {
			polls++
			if r.readyz() == http.StatusServiceUnavailable {
				notReady++
			}
			time.Sleep(500 * time.Millisecond)
		}
		if notReady == 0 {
			r.t.Error("/readyz never answered 503 while the store was down")
		}
		after := r.committed()
		if after != before {
			r.t.Errorf("the sink group committed while the store was down: offsets %d, then %d", before, after)
		}
		r.script(r.storeCmd, "up")
		r.t.Logf("store back after %s; /readyz answered 503 to %d of %d polls meanwhile; the sink group's committed offsets stayed at %d (sum)",
			time.Since(stopped).Round(100*time.Millisecond), notReady, polls, after)
		testkit.Eventually(r.t, time.Minute, "/readyz 200 after the store came back", func() bool { return r.readyz() == http.StatusOK })
	})

	scenario("Kafka broker stopped 10 s", "POSTPIPE_TEST_KAFKA_BROKERS", load+20*time.Second, func(r *chaosRig, l time.Duration) {
		time.Sleep(5 * time.Second)
		r.script(r.kafkaCmd, "down")
		stopped := time.Now()
		time.Sleep(10 * time.Second)
		r.script(r.kafkaCmd, "up")
		r.t.Logf("broker back after %s", time.Since(stopped).Round(100*time.Millisecond))
		// It recovers by itself: a post is accepted again, with no
		// restart of the API.
		testkit.Eventually(r.t, time.Minute, "a 202 after the broker came back", func() bool {
			return postJSON(r.t, r.base+"/v1/posts", map[string]any{"author": "chaos-probe", "title": "probe", "content": "probe"}, nil, nil) == http.StatusAccepted
		})
	})

	scenario("API sent SIGTERM mid-load", "POSTPIPE_TEST_KAFKA_BROKERS", load, func(r *chaosRig, l time.Duration) {
		time.Sleep(l / 2)
		took, err := r.api.Load().terminate()
		if err != nil {
			r.t.Errorf("api after SIGTERM: %v", err)
		}
		r.t.Logf("api exited %s after SIGTERM; restarting it", took.Round(time.Millisecond))
		r.startAPI("api-restarted")
	})

	scenario("poison records on the topic", "POSTPIPE_TEST_KAFKA_BROKERS", load, func(r *chaosRig, l time.Duration) {
		time.Sleep(5 * time.Second)
		r.poison()
	})

	if os.Getenv("POSTPIPE_TEST_KAFKA_CLUSTER_BROKERS") != "" {
		// The cluster runs only for this scenario: the single node
		// steps aside meanwhile.
		before = func(r *chaosRig) {
			r.script(kafkaCmd, "down")
			r.script(kafkaCmd, "cluster-up")
			r.t.Cleanup(func() { r.script(kafkaCmd, "cluster-down") })
		}
		scenario("3-node cluster, one broker killed", "POSTPIPE_TEST_KAFKA_CLUSTER_BROKERS", load, func(r *chaosRig, l time.Duration) {
			time.Sleep(5 * time.Second)
			r.script(r.kafkaCmd, "node-kill", "2")
			killed := time.Now()
			time.Sleep(l / 3)
			r.script(r.kafkaCmd, "node-start", "2")
			r.t.Logf("broker 2 back after %s", time.Since(killed).Round(100*time.Millisecond))
		})
	}
	if ran == 0 {
		t.Fatalf("CHAOS_ONLY=%q matches no scenario", os.Getenv("CHAOS_ONLY"))
	}
}

// killAndRestart SIGKILLs a random sink up to kills times at random moments
// spread over the load l, restarting it at once; each restart is timed until
// the killed sink's partitions are consumed again, so a kill must leave load
// behind it.
func (r *chaosRig) killAndRestart(l time.Duration, kills int) {
	loadEnd := time.Now().Add(l)
	gap := (l - 10*time.Second) / time.Duration(kills)
	var took []time.Duration
	for i := range kills {
		time.Sleep(time.Second + rand.N(gap))
		if time.Until(loadEnd) < 4*time.Second {
			break
		}
		v := rand.N(len(r.sinks))
		d := r.failover(v, fmt.Sprintf("sink-%d-after-kill-%d", v+1, i+1))
		r.t.Logf("kill %d: SIGKILLed sink %d and restarted it; its partitions were consumed again after %s", i+1, v+1, d.Round(time.Millisecond))
		took = append(took, d)
	}
	if len(took) == 0 {
		r.t.Fatal("no kill happened")
	}
	worst := slices.Max(took)
	r.failedOver = fmt.Sprintf("restart: max %.1f s of %d", worst.Seconds(), len(took))
	if worst > restartTarget {
		r.t.Errorf("a restarted sink's partitions stalled %s, over the target %s", worst.Round(time.Millisecond), restartTarget)
	}
}

// run starts the pipeline, puts dur of steady load on it while fault runs,
// and returns what the bench client counted and the store check found: a
// row, or with a second stream (r.orders) a row per stream.
func (r *chaosRig) run(name string, dur time.Duration, fault func(*chaosRig, time.Duration)) []chaosRow {
	t := r.t
	r.apiAddr = freeAddr(t)
	r.base = "http://" + r.apiAddr
	r.startAPI("api")
	r.sinks = []*extProc{r.startSink("sink-1"), r.startSink("sink-2")}
	waitReady(t, r.base)
	r.adm = r.admin()
	postsColl := connectMongo(t, r.env) // drops the scenario's database at the end

	rss := r.sampleRSS()
	type outcome struct {
		res *bench.Results
		err error
	}
	benched := make(chan outcome, 1)
	out := t.TempDir()
	go func() {
		res, err := bench.Run(context.Background(), bench.Config{
			Target:       r.base,
			Load:         bench.Load{Model: bench.Open, Stages: []bench.Stage{{Duration: 100 * time.Millisecond, Target: chaosRate}, {Duration: dur, Target: chaosRate}}},
			MaxVUs:       chaosMaxVUs,
			Scenarios:    []string{"kafka"},
			Out:          out,
			ContentBytes: 300,
			BatchSize:    1,
			Timeout:      3 * produceTimeout,
			MongoURI:     r.env["POSTPIPE_MONGODB_URI"], MongoDatabase: r.env["POSTPIPE_MONGODB_DATABASE"],
			DrainTimeout: 3 * time.Minute,
		})
		benched <- outcome{res, err}
	}()
	ordersDone := make(chan struct{})
	if r.orders != nil {
		go func() {
			defer close(ordersDone)
			r.orders.drive(r.base, dur)
		}()
	} else {
		close(ordersDone)
	}
	stormDone := make(chan struct{})
	if r.storm != nil {
		r.storm.begin(r)
		go func() {
			defer close(stormDone)
			r.storm.drive(dur)
		}()
	} else {
		close(stormDone)
	}
	// The fault runs on the test's goroutine, so it may fail the test
	// at once; it may outlast the load (the broker takes its time).
	fault(r, dur)
	b := <-benched
	<-ordersDone
	<-stormDone
	res, err := b.res, b.err
	maxRSS := rss()
	if err != nil {
		t.Errorf("bench: %v", err)
	}
	if res == nil || len(res.Scenarios) == 0 || res.Verification == nil {
		t.Fatalf("%s: the bench client measured nothing", name)
	}
	sc, v := res.Scenarios[0], res.Verification
	row := chaosRow{
		scenario: name, sent: sc.Requests, accepted: sc.Requests - sc.Errors,
		unavailable: sc.ErrorsByStatus["503"], lost: v.Lost, duplicated: v.Duplicated,
		maxLatency: time.Duration(sc.Max * float64(time.Millisecond)), maxRSS: maxRSS, failover: r.failedOver,
	}
	row.otherErrs = sc.Errors - row.unavailable
	t.Logf("%s: %+v; errors by kind %v; %d answered 503 with an id, %d of them stored once all the same", name, row, sc.ErrorsByStatus, v.Unacknowledged, v.UnacknowledgedLanded)
	// Never a hang: every answer, 503s included, within the produce
	// timeout and a margin for a busy machine.
	if limit := produceTimeout + 3*time.Second; row.maxLatency > limit {
		t.Errorf("%s: slowest answer %s, over the produce timeout %s + margin", name, row.maxLatency, produceTimeout)
	}
	// A transport error is only expected while the API is down.
	if row.otherErrs > 0 && !strings.Contains(name, "SIGTERM") {
		t.Errorf("%s: %d answers that were neither 202 nor 503: %v", name, row.otherErrs, sc.ErrorsByStatus)
	}
	var storm []chaosRow
	if r.storm != nil {
		storm = append(storm, r.storm.row(t, name+": changes", maxRSS, r.failedOver))
	}
	if r.orders == nil {
		return append([]chaosRow{row}, storm...)
	}
	row.scenario = name + ": posts"
	// The posts collection holds the bench client's posts and nothing
	// else: no order went astray into it.
	if extra := r.foreignPosts(postsColl, v); extra != 0 {
		t.Errorf("%s: the posts collection holds %+d documents beyond the ones the bench client's check accounted for", name, extra)
		row.duplicated += max(extra, 0)
	}
	orders := r.orders.row(t, postsColl.Database(), name+": orders", maxRSS, r.failedOver)
	// Each stream went through the topic the failover timing watched,
	// and nothing was dead-lettered.
	r.checkProducedTo(r.env["POSTPIPE_KAFKA_TOPIC"], row.accepted)
	r.checkProducedTo(r.orders.topic, orders.accepted)
	r.checkDLQsEmpty(r.env["POSTPIPE_KAFKA_DLQ_TOPIC"], r.orders.dlqTopic)
	return append([]chaosRow{row, orders}, storm...)
}

func (r *chaosRig) startAPI(name string) {
	r.api.Store(startBinary(r.t, name, "api", with(r.env, "POSTPIPE_HTTP_ADDR", r.apiAddr, "POSTPIPE_LOG_LEVEL", "error",
		"POSTPIPE_PRODUCE_TIMEOUT", produceTimeout.String())))
}

// startSink starts a sink named sink-N[-suffix]; sink-N is its instance id
// (static group membership), kept across restarts like a StatefulSet pod's.
func (r *chaosRig) startSink(name string) *extProc {
	id, _, _ := strings.Cut(name, "-after")
	return startBinary(r.t, name, "sink", with(r.env, "POSTPIPE_LOG_LEVEL", "warn", "POSTPIPE_KAFKA_INSTANCE_ID", id))
}

// admin is a client of the scenario's broker, closed at the end.
func (r *chaosRig) admin() *kadm.Client {
	r.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(r.env["POSTPIPE_KAFKA_BROKERS"], ",")...))
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// topicPartition is a partition of one of the watched topics.
type topicPartition struct {
	topic     string
	partition int32
}

// watched are the topics under load whose partitions a failover must see
// consumed again: posts', and orders' when the scenario has that stream.
func (r *chaosRig) watched() []string {
	topics := []string{r.env["POSTPIPE_KAFKA_TOPIC"]}
	if r.orders != nil {
		topics = append(topics, r.orders.topic)
	}
	return topics
}

// assigned is the partitions of the watched topics the static member id
// holds.
func (r *chaosRig) assigned(id string) []topicPartition {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	group := r.env["POSTPIPE_KAFKA_GROUP"]
	described, err := r.adm.DescribeGroups(ctx, group)
	if err != nil {
		return nil
	}
	for _, m := range described[group].Members {
		if m.InstanceID == nil || *m.InstanceID != id {
			continue
		}
		a, ok := m.Assigned.AsConsumer()
		if !ok {
			return nil
		}
		var held []topicPartition
		for _, t := range a.Topics {
			if slices.Contains(r.watched(), t.Topic) {
				for _, p := range t.Partitions {
					held = append(held, topicPartition{t.Topic, p})
				}
			}
		}
		return held
	}
	return nil
}

// offsets is the sink group's committed offset of each partition of the
// watched topics.
func (r *chaosRig) offsets() (map[topicPartition]int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	offs, err := r.adm.FetchOffsets(ctx, r.env["POSTPIPE_KAFKA_GROUP"])
	if err == nil {
		err = offs.Error()
	}
	if err != nil {
		return nil, err
	}
	out := map[topicPartition]int64{}
	watched := r.watched()
	offs.Each(func(o kadm.OffsetResponse) {
		if slices.Contains(watched, o.Topic) {
			out[topicPartition{o.Topic, o.Partition}] = o.At
		}
	})
	return out, nil
}

// failover SIGKILLs sink v once it holds partitions, restarts it at once
// as restartName unless that is empty, and returns the time from the kill
// until the group has committed past, on every partition the sink held,
// the offset committed when it died: the partitions are consumed again
// (by the restarted sink or by the survivor). The load must go on
// meanwhile, so every partition has records to consume.
func (r *chaosRig) failover(v int, restartName string) time.Duration {
	t := r.t
	t.Helper()
	id := fmt.Sprintf("sink-%d", v+1)
	var held []topicPartition
	testkit.Eventually(t, time.Minute, id+" to hold partitions", func() bool {
		held = r.assigned(id)
		return len(held) > 0
	})
	r.sinks[v].kill(t)
	killed := time.Now()
	if restartName != "" {
		r.sinks[v] = r.startSink(restartName)
	}
	// What it committed before it died; it commits nothing more (a commit
	// it sent just before may still be landing: give it a moment).
	time.Sleep(200 * time.Millisecond)
	at, err := r.offsets()
	if err != nil {
		t.Fatalf("committed offsets after the kill: %v", err)
	}
	for {
		now, err := r.offsets()
		back := err == nil
		for _, p := range held {
			back = back && now[p] > at[p]
		}
		if back {
			return time.Since(killed)
		}
		if time.Since(killed) > 2*time.Minute {
			t.Fatalf("partitions %v of %s not consumed again within 2 min of the kill (committed then %v, now %v, err %v)", held, id, at, now, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// script runs a deploy script (kafka.sh, store.sh) with args.
func (r *chaosRig) script(cmd string, args ...string) {
	r.t.Helper()
	out, err := exec.Command(cmd, args...).CombinedOutput()
	if err != nil {
		r.t.Fatalf("%s %v: %v\n%s", cmd, args, err, out)
	}
}

// committed is the sum of the sink group's committed offsets.
func (r *chaosRig) committed() int64 {
	r.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(r.env["POSTPIPE_KAFKA_BROKERS"], ",")...))
	if err != nil {
		r.t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	offs, err := kadm.NewClient(cl).FetchOffsets(ctx, r.env["POSTPIPE_KAFKA_GROUP"])
	if err == nil {
		err = offs.Error()
	}
	if err != nil {
		r.t.Fatalf("fetch the sink group's offsets: %v", err)
	}
	var sum int64
	offs.Each(func(o kadm.OffsetResponse) { sum += o.At })
	return sum
}

func (r *chaosRig) readyz() int {
	resp, err := client.Get(r.base + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// sampleRSS reads the api process's resident memory every 100 ms, following
// it across restarts; the returned function stops and gives the peak in kB.
func (r *chaosRig) sampleRSS() func() int64 {
	var peak atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			if kb := vmRSS(r.api.Load().cmd.Process.Pid); kb > peak.Load() {
				peak.Store(kb)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	})
	return func() int64 {
		close(stop)
		wg.Wait()
		return peak.Load()
	}
}

// vmRSS is VmRSS from /proc/<pid>/status in kB, 0 when the process is gone.
func vmRSS(pid int) int64 {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb
		}
	}
	return 0
}

// poison puts a record that is not JSON and one that is not a valid post on
// the topic, and checks that both end on the dead-letter topic with the
// reason and their origin; the load's posts after them are checked by the
// bench client like every other.
func (r *chaosRig) poison() {
	t := r.t
	topic, dlqTopic := r.env["POSTPIPE_KAFKA_TOPIC"], r.env["POSTPIPE_KAFKA_DLQ_TOPIC"]
	brokers := strings.Split(r.env["POSTPIPE_KAFKA_BROKERS"], ",")
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	poison := []*kgo.Record{
		{Topic: topic, Key: []byte("chaos-poison-1"), Value: []byte("this is not JSON")},
		{Topic: topic, Key: []byte("chaos-poison-2"), Value: []byte(`{"id":"nope","author":"","title":"","content":""}`)},
	}
	if err := cl.ProduceSync(ctx, poison...).FirstErr(); err != nil {
		t.Fatalf("produce poison: %v", err)
	}
	origin := map[string]*kgo.Record{}
	for _, p := range poison {
		origin[string(p.Key)] = p
	}
	dlq, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(dlqTopic))
	if err != nil {
		t.Fatal(err)
	}
	defer dlq.Close()
	for len(origin) > 0 && ctx.Err() == nil {
		dlq.PollFetches(ctx).EachRecord(func(d *kgo.Record) {
			src, ok := origin[string(d.Key)]
			if !ok {
				t.Errorf("unexpected record on the DLQ: key %q value %q", d.Key, d.Value)
				return
			}
			h := map[string]string{}
			for _, x := range d.Headers {
				h[x.Key] = string(x.Value)
			}
			if string(d.Value) != string(src.Value) || h[post.DLQHeaderError] == "" || h[post.DLQHeaderSourceTopic] != topic ||
				h[post.DLQHeaderSourcePartition] != strconv.Itoa(int(src.Partition)) || h[post.DLQHeaderSourceOffset] != strconv.FormatInt(src.Offset, 10) {
				t.Errorf("DLQ record %q: value %q, headers %v; origin partition %d offset %d", d.Key, d.Value, h, src.Partition, src.Offset)
			}
			t.Logf("DLQ: %s from %s/%s@%s: %s", d.Key, h[post.DLQHeaderSourceTopic], h[post.DLQHeaderSourcePartition], h[post.DLQHeaderSourceOffset], h[post.DLQHeaderError])
			delete(origin, string(d.Key))
		})
	}
	if len(origin) > 0 {
		t.Errorf("%d poison records never reached the DLQ", len(origin))
	}
}

func printChaosTable(rows []chaosRow) {
	if len(rows) == 0 {
		return
	}
	var b strings.Builder
	b.WriteString("\n| scenario | requests sent | 202 | 503 | other errors | lost | duplicated | reordered | slowest answer | max API RSS | killed sink's partitions consumed again after |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, r := range rows {
		failover := r.failover
		if failover == "" {
			failover = "-"
		}
		reordered := "-"
		if r.modelled {
			reordered = strconv.FormatInt(r.reordered, 10)
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d | %d | %s | %s | %.1f MiB | %s |\n", r.scenario, r.sent, r.accepted, r.unavailable,
			r.otherErrs, r.lost, r.duplicated, reordered, r.maxLatency.Round(time.Millisecond), float64(r.maxRSS)/1024, failover)
	}
	fmt.Print(b.String())
	if path := os.Getenv("CHAOS_TABLE"); path != "" {
		_ = os.WriteFile(path, []byte(b.String()), 0o644)
	}
}
