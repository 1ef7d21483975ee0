package sink_test

import (
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/postpipe/postpipe/internal/sink"
	"github.com/postpipe/postpipe/internal/testkit"
)

// members returns the group's members by instance id ("" for dynamic ones).
func members(t *testing.T, adm *kadm.Client, group string) map[string]kadm.DescribedGroupMember {
	t.Helper()
	described, err := adm.DescribeGroups(testCtx(t), group)
	if err != nil {
		t.Fatalf("DescribeGroups: %v", err)
	}
	out := map[string]kadm.DescribedGroupMember{}
	for _, m := range described[group].Members {
		id := ""
		if m.InstanceID != nil {
			id = *m.InstanceID
		}
		out[id] = m
	}
	return out
}

func TestStaticMemberLeavesTheGroupWhenStopped(t *testing.T) {
	brokers := newCluster(t)
	adm := kadm.NewClient(newClient(t, brokers))
	const group = "sink-static"
	cfg := sinkConfig(group, 10)
	// Long enough that only an explicit leave removes a stopped member
	// before the test ends.
	cfg.SessionTimeout = 2 * time.Minute

	cfgA, cfgB := cfg, cfg
	cfgA.InstanceID, cfgB.InstanceID = "sink-a", "sink-b"
	wA, wB := newFakeWriter(), newFakeWriter()
	_, stopA := startSink(t, brokers, cfgA, wA)
	_, _ = startSink(t, brokers, cfgB, wB)
	testkit.Eventually(t, 30*time.Second, "both static members in the group", func() bool {
		m := members(t, adm, group)
		a, ok := m["sink-a"].Assigned.AsConsumer()
		return len(m) == 2 && ok && len(a.Topics) > 0
	})

	if err := stopA(); err != nil {
		t.Fatalf("Run of sink-a = %v, want nil", err)
	}
	// A static member's client does not leave when it closes; the sink
	// leaves by itself, so its partitions are not held for the session
	// timeout by a sink that may not come back.
	if m := members(t, adm, group); len(m) != 1 || m["sink-b"].MemberID == "" {
		t.Errorf("members after sink-a stopped: %v, want sink-b alone", keys(m))
	}
	ids := produceGood(t, newClient(t, brokers), 30)
	testkit.Eventually(t, 30*time.Second, "sink-b to write the posts of every partition", func() bool { return wB.hasAll(ids) })
}

func TestSecondSinkWithTheSameInstanceIDFencesTheFirst(t *testing.T) {
	brokers := newCluster(t)
	adm := kadm.NewClient(newClient(t, brokers))
	const group = "sink-fenced"
	cfg := sinkConfig(group, 10)
	cfg.InstanceID = "sink-0"

	w1, w2 := newFakeWriter(), newFakeWriter()
	s1, stop1 := startSink(t, brokers, cfg, w1)
	testkit.Eventually(t, 30*time.Second, "the first sink to join", func() bool { return s1.Joined(t.Context()) == nil })
	first := members(t, adm, group)["sink-0"].MemberID

	_, _ = startSink(t, brokers, cfg, w2)
	testkit.Eventually(t, 30*time.Second, "the second sink to take the instance id", func() bool {
		m := members(t, adm, group)["sink-0"].MemberID
		return m != "" && m != first
	})
	// The first finds out at its next heartbeat or commit and stops with
	// ErrFenced instead of fighting for the id.
	testkit.Eventually(t, 30*time.Second, "the first sink to stop consuming", func() bool { return s1.Joined(t.Context()) != nil })
	if err := stop1(); !errors.Is(err, sink.ErrFenced) {
		t.Fatalf("Run of the fenced sink = %v, want ErrFenced", err)
	}
	// It did not leave with the id: the second one is still the member.
	ids := produceGood(t, newClient(t, brokers), 30)
	testkit.Eventually(t, 30*time.Second, "the second sink to write every post", func() bool { return w2.hasAll(ids) })
	if m := members(t, adm, group); len(m) != 1 || m["sink-0"].MemberID == first {
		t.Errorf("members: %v, want the second sink-0 alone", m)
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
