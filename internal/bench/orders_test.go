package bench

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/postpipe/postpipe/internal/doc"
	"github.com/postpipe/postpipe/internal/stream"
)

// exampleStreams is examples/streams.yaml, which declares posts, orders
// and clicks.
const exampleStreams = "../../examples/streams.yaml"

func loadExampleStreams(t *testing.T) *stream.Set {
	t.Helper()
	set, err := stream.Load(exampleStreams)
	if err != nil {
		t.Fatalf("load %s: %v", exampleStreams, err)
	}
	return set
}

// TestOrdersAreValidOrders: every order the bench sends is a document the
// API takes into the orders stream of examples/streams.yaml — doc.Parse
// and doc.Accept as the API runs them, its schema examples/schemas/orders.json
// — exactly orderBytes long, with the orderId it is marked by as its id,
// its own orderId, the run's customer and a total that adds up.
func TestOrdersAreValidOrders(t *testing.T) {
	st := loadExampleStreams(t).Lookup("orders")
	if st == nil || st.ID != "/orderId" {
		t.Fatalf("%s declares orders as %+v, want it with the id /orderId", exampleStreams, st)
	}
	const runID = "20261130T150405-a1b2c3"
	s := &sender{sc: scenarioNamed(t, "orders"), orders: newOrders(newWords(300), runID, "orders", time.Date(2026, 11, 30, 15, 4, 5, 123e6, time.UTC))}
	seen := map[string]bool{}
	var body []byte
	for i := range 2000 {
		var markers []string
		body, markers = s.body(body[:0], nil)
		if len(markers) != 1 {
			t.Fatalf("%d markers for one order", len(markers))
		}
		id := markers[0]
		if len(body) != orderBytes {
			t.Fatalf("order %d is %d bytes, want %d:\n%s", i, len(body), orderBytes, body)
		}
		parsed, err := doc.Parse(body)
		if err != nil {
			t.Fatalf("doc.Parse(%s): %v", body, err)
		}
		d, err := doc.Accept(st, parsed, time.Now(), func() string { t.Fatal("a new id asked for: the order carries its own"); return "" })
		if err != nil {
			t.Fatalf("doc.Accept(%s): %v", body, err)
		}
		if d.ID != id || seen[id] {
			t.Fatalf("order %d: id %q, marker %q (seen before: %v)", i, d.ID, id, seen[id])
		}
		seen[id] = true

		var o struct {
			OrderID, Customer, Status, PlacedAt, Note string
			Items                                     []struct {
				SKU      string  `json:"sku"`
				Name     string  `json:"name"`
				Quantity int64   `json:"quantity"`
				Amount   float64 `json:"amount"`
			}
			Total float64
		}
		if err := json.Unmarshal(body, &o); err != nil {
			t.Fatal(err)
		}
		if o.Customer != "bench-"+runID+"-orders" || !strings.HasPrefix(o.OrderID, o.Customer+"-") || o.PlacedAt != "2026-11-30T15:04:05.123Z" ||
			len(o.Items) != orderItems || o.Note == "" {
			t.Fatalf("order %d is not shaped as expected: %+v", i, o)
		}
		var cents int64
		for _, it := range o.Items {
			cents += it.Quantity * int64(it.Amount*100+0.5)
		}
		if got := int64(o.Total*100 + 0.5); got != cents {
			t.Fatalf("order %d: total %v, the items add up to %d cents", i, o.Total, cents)
		}
	}
}

func TestAppendCents(t *testing.T) {
	for cents, want := range map[int64]string{0: "0.00", 5: "0.05", 10: "0.10", 100: "1.00", 1999: "19.99", 123456: "1234.56"} {
		if got := string(appendCents(nil, cents)); got != want {
			t.Errorf("appendCents(%d) = %s, want %s", cents, got, want)
		}
	}
}

// TestCheckStreamScenario: the orders scenario runs only against a streams
// file whose orders stream takes the bench's orders and their ids.
func TestCheckStreamScenario(t *testing.T) {
	sc := scenarioNamed(t, "orders")
	if st, err := checkStreamScenario(loadExampleStreams(t), sc, 300); err != nil || st.Name != "orders" {
		t.Fatalf("examples/streams.yaml: %v, %v", st, err)
	}
	builtin, err := stream.Load("")
	if err != nil {
		t.Fatal(err)
	}
	schema, err := filepath.Abs("../../examples/schemas/orders.json")
	if err != nil {
		t.Fatal(err)
	}
	file := func(body string) *stream.Set {
		t.Helper()
		path := filepath.Join(t.TempDir(), "streams.yaml")
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		set, err := stream.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		return set
	}
	for _, tt := range []struct {
		name    string
		set     *stream.Set
		wantErr string
	}{
		{"no streams at all", nil, "declares no stream orders"},
		{"posts alone", builtin, "declares no stream orders"},
		{"another schema", file("streams:\n  - name: orders\n    schema: {type: object, required: [sku]}\n"), "does not take the bench's orders"},
		{"ids generated", file("streams:\n  - name: orders\n    schema: " + schema + "\n"), "not /orderId"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := checkStreamScenario(tt.set, sc, 300)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want an error with %q", err, tt.wantErr)
			}
		})
	}
}

// TestJudgeOrders: an order's 202 must name its orderId; one naming
// another id is a wrong answer, still checked under the id it named.
func TestJudgeOrders(t *testing.T) {
	sc := scenarioNamed(t, "orders")
	got := sc.judge(202, []byte(`{"id":"o-1","status":"accepted"}`), []string{"o-1"})
	if got.failure != "" || got.posts != 1 || !slices.Equal(got.accepted, []sentPost{{"o-1", "o-1"}}) {
		t.Errorf("judge = %+v", got)
	}
	got = sc.judge(202, []byte(`{"id":"0190-uuid","status":"accepted"}`), []string{"o-1"})
	if got.failure != "wrong-id" || !slices.Equal(got.accepted, []sentPost{{"0190-uuid", "o-1"}}) {
		t.Errorf("judge of a 202 under another id = %+v, want wrong-id, checked under it", got)
	}
	got = sc.judge(503, []byte(`{"status":503,"id":"o-1"}`), []string{"o-1"})
	if got.failure != "503" || !slices.Equal(got.maybe, []sentPost{{"o-1", "o-1"}}) {
		t.Errorf("judge of a 503 = %+v", got)
	}
}

// TestOrdersTakeTurnsWithKafka: orders is compared with kafka (CPU per
// document), so in rounds it takes turns with kafka rather than following.
func TestOrdersTakeTurnsWithKafka(t *testing.T) {
	scs, err := lookupScenarios([]string{"noop", "kafka", "orders", "batch"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tu := range turns(scs, 2, false) {
		got = append(got, scs[tu.scenario].name)
	}
	if want := "noop kafka orders noop kafka orders batch batch"; strings.Join(got, " ") != want {
		t.Errorf("turns %s, want %s", strings.Join(got, " "), want)
	}
}

// TestCPURatios: orders ÷ kafka compares api + broker per document, over
// the run and by round; the api alone where no broker was measured; none
// without a server process or without one of the two.
func TestCPURatios(t *testing.T) {
	sr := func(name string, per map[string]float64, rounds ...map[string]float64) ScenarioResult {
		s := ScenarioResult{Name: name, CPUUsPerPost: per}
		for i, r := range rounds {
			s.Rounds = append(s.Rounds, RoundResult{Round: i + 1, CPUUsPerPost: r})
		}
		return s
	}
	got := cpuRatios([]ScenarioResult{
		sr("kafka", map[string]float64{"api": 40, "broker": 10, "bench": 20},
			map[string]float64{"api": 38, "broker": 12}, map[string]float64{"api": 42, "broker": 8}),
		sr("orders", map[string]float64{"api": 50, "broker": 10, "bench": 25},
			map[string]float64{"api": 45, "broker": 10}, map[string]float64{"api": 55, "broker": 10}),
	})
	want := CPURatio{Name: "orders ÷ kafka", Of: "orders", Over: "kafka", Basis: "api + broker", OfUs: 60, OverUs: 50, Value: 1.2, Rounds: []float64{1.1, 1.3}}
	if len(got) != 1 || got[0].Name != want.Name || got[0].Basis != want.Basis || got[0].OfUs != want.OfUs || got[0].OverUs != want.OverUs ||
		got[0].Value != want.Value || !slices.Equal(got[0].Rounds, want.Rounds) {
		t.Errorf("cpuRatios = %+v, want [%+v]", got, want)
	}
	got = cpuRatios([]ScenarioResult{sr("kafka", map[string]float64{"api": 40, "bench": 20}), sr("orders", map[string]float64{"api": 44, "bench": 20})})
	if len(got) != 1 || got[0].Basis != "api" || got[0].Value != 1.1 || got[0].Rounds != nil {
		t.Errorf("api alone: %+v", got)
	}
	for name, scs := range map[string][]ScenarioResult{
		"only the bench client": {sr("kafka", map[string]float64{"bench": 20}), sr("orders", map[string]float64{"bench": 25})},
		"no orders":             {sr("kafka", map[string]float64{"api": 40})},
		"orders interrupted":    {sr("kafka", map[string]float64{"api": 40}), {Name: "orders", Interrupted: true, CPUUsPerPost: map[string]float64{"api": 40}}},
	} {
		if got := cpuRatios(scs); len(got) != 0 {
			t.Errorf("%s: %+v, want none", name, got)
		}
	}
}

// TestReportShowsOrders: the orders row in the CPU table, orders ÷ kafka
// beside it, what an order is, and cpu_ratios in results.json.
func TestReportShowsOrders(t *testing.T) {
	res := sampleResults(t, true)
	res.Run.Processes = map[string][]int{"api": {10}, "broker": {20}, "bench": {30}}
	res.Scenarios[1].CPUSeconds = map[string]float64{"api": 1, "broker": 0.25, "bench": 0.5}
	res.Scenarios[1].CPUUsPerPost = map[string]float64{"api": 40, "broker": 10, "bench": 20}
	orders := res.Scenarios[1]
	orders.Name, orders.Path = "orders", "/v1/orders"
	orders.CPUUsPerPost = map[string]float64{"api": 48, "broker": 12, "bench": 21}
	orders.Verification = &Verification{Accepted: 70, Landed: 70, Drained: true, Where: "store", lags: newLags()}
	res.Scenarios = append(res.Scenarios, orders)
	res.Verification = combine([]*Verification{res.Scenarios[1].Verification, orders.Verification})
	res.CPURatios = cpuRatios(res.Scenarios)
	if err := write(res); err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{markdownFor, htmlFile} {
		b, err := os.ReadFile(filepath.Join(res.Dir, file))
		if err != nil {
			t.Fatal(err)
		}
		wants := []string{"orders ÷ kafka = 1.20", "api + broker: orders 60.0 µs, kafka 50.0 µs", "600-byte documents of examples/schemas/orders.json"}
		if file == markdownFor {
			wants = append(wants, "| orders | 48.0 | 12.0 | 21.0 | 60.0 | 81.0 |", "| orders | 70 | 70 | 0 | 0 |", "| all promised | 170 | 169 | 1 |")
		} else {
			wants = append(wants, "<td>orders</td><td>70</td><td>70</td>")
		}
		for _, want := range wants {
			if !strings.Contains(strings.ReplaceAll(string(b), "&#43;", "+"), want) {
				t.Errorf("%s lacks %q:\n%s", file, want, b)
			}
		}
	}
	m := readResultsJSON(t, res.Dir)
	rs, ok := m["cpu_ratios"].([]any)
	if !ok || len(rs) != 1 {
		t.Fatalf("cpu_ratios = %v", m["cpu_ratios"])
	}
	requireKeys(t, "cpu ratio", rs[0], "name", "of", "over", "basis", "of_us", "over_us", "value")
	scs := m["scenarios"].([]any)
	requireKeys(t, "orders", scs[2], "cpu_us_per_post", "verification")
}
