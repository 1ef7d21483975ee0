package bench

import (
	"fmt"
	"strings"
)

// The wait's share: of the CPU the API spends on a post of /v1/posts
// (kafka), how much is the wait for the broker's acks=all rather than the
// request itself or producing the record. noop is the request alone
// (decode, validate, answer), fire-and-forget adds producing the record to
// the same producer and answers before the ack, kafka adds the wait for
// the ack (a waiter per post, the wake-up, and a goroutine parked per
// request in between). So, per post, in the API:
//
//	produce = fire-and-forget − noop
//	wait    = kafka − fire-and-forget
//	share   = wait ÷ kafka
//
// A difference can come out negative where the machine's drift is larger
// than it (the rounds show how far it moves); it is reported as measured.

// WaitShare splits the API's CPU per post of kafka into its parts.
type WaitShare struct {
	Basis           string  `json:"basis"`              // the process: "api"
	NoopUs          float64 `json:"noop_us"`            // µs per request of noop
	FireAndForgetUs float64 `json:"fire_and_forget_us"` // µs per post of fire-and-forget
	KafkaUs         float64 `json:"kafka_us"`           // µs per post of kafka
	ProduceUs       float64 `json:"produce_us"`         // fire-and-forget − noop
	WaitUs          float64 `json:"wait_us"`            // kafka − fire-and-forget
	KafkaOverNoopUs float64 `json:"kafka_minus_noop_us"`
	// Share is WaitUs ÷ KafkaUs: the wait's share of kafka's API CPU.
	Share float64 `json:"share"`
	// Rounds is the share in each round, when the three took turns.
	Rounds []float64 `json:"rounds,omitempty"`
}

// waitShareProcess is the process whose CPU the wait's share splits.
const waitShareProcess = "api"

// waitShare computes the split from a run's scenarios: nil unless noop,
// fire-and-forget and kafka all ran (uninterrupted) with the API's CPU
// measured and kafka's above zero.
func waitShare(scs []ScenarioResult) *WaitShare {
	byName := map[string]ScenarioResult{}
	for _, s := range scs {
		if !s.Interrupted {
			byName[s.Name] = s
		}
	}
	noop, okN := byName["noop"]
	ff, okF := byName["fire-and-forget"]
	kafka, okK := byName["kafka"]
	if !okN || !okF || !okK {
		return nil
	}
	n, okN := noop.CPUUsPerPost[waitShareProcess]
	f, okF := ff.CPUUsPerPost[waitShareProcess]
	k, okK := kafka.CPUUsPerPost[waitShareProcess]
	if !okN || !okF || !okK || k <= 0 {
		return nil
	}
	w := &WaitShare{Basis: waitShareProcess, NoopUs: n, FireAndForgetUs: f, KafkaUs: k,
		ProduceUs: round3(f - n), WaitUs: round3(k - f), KafkaOverNoopUs: round3(k - n), Share: round3((k - f) / k)}
	if r := len(kafka.Rounds); r > 1 && len(noop.Rounds) == r && len(ff.Rounds) == r {
		for i := range kafka.Rounds {
			kr, okK := kafka.Rounds[i].CPUUsPerPost[waitShareProcess]
			fr, okF := ff.Rounds[i].CPUUsPerPost[waitShareProcess]
			if okK && okF && kr > 0 {
				w.Rounds = append(w.Rounds, round3((kr-fr)/kr))
			}
		}
	}
	return w
}

// percent formats a share as a percentage: "33 %".
func percent(x float64) string { return fmt.Sprintf("%.0f %%", 100*x) }

// waitShareText is the split as one line, for report.md and report.html.
func waitShareText(w *WaitShare) string {
	s := fmt.Sprintf("The API's CPU per post (µs): noop %s; produce (fire-and-forget − noop) %s; wait for the ack (kafka − fire-and-forget) %s; kafka − noop %s; kafka %s. The wait's share of kafka's API CPU: %s",
		num(w.NoopUs), signed(w.ProduceUs), signed(w.WaitUs), signed(w.KafkaOverNoopUs), num(w.KafkaUs), percent(w.Share))
	if len(w.Rounds) > 0 {
		s += " (" + percentRounds(w.Rounds) + ")"
	}
	return s + "."
}

// signed formats a difference with its sign: "+12.3", "−4.0".
func signed(x float64) string {
	if x < 0 {
		return "−" + num(-x)
	}
	return "+" + num(x)
}

// percentRounds is a share's values by round: "by round 31 %, 35 %".
func percentRounds(rounds []float64) string {
	vs := make([]string, len(rounds))
	for i, v := range rounds {
		vs[i] = percent(v)
	}
	return "by round " + strings.Join(vs, ", ")
}
