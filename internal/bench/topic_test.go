package bench

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/postpipe/postpipe/internal/doc"
	"github.com/postpipe/postpipe/internal/kafka"
	"github.com/postpipe/postpipe/internal/post"
	"github.com/postpipe/postpipe/internal/testkit"
)

const (
	saslUser     = "bench"
	saslPassword = "pw-5c1d-never-logged"
)

// securedBroker is a kfake broker that wants TLS and SCRAM-SHA-256, with
// topics, and the Security that gets through.
func securedBroker(t *testing.T, topics ...string) (*kfake.Cluster, kafka.Security) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	// Self-signed, and its own CA: the client trusts it through CAFile.
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "broker"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	cert, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	cluster := testkit.Kafka(t, kfake.NumBrokers(1), kfake.SeedTopics(1, topics...),
		kfake.EnableSASL(), kfake.Superuser(kafka.SASLScramSHA256, saslUser, saslPassword),
		kfake.TLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}))
	return cluster, kafka.Security{TLS: true, CAFile: caFile, SASLMechanism: kafka.SASLScramSHA256, SASLUsername: saslUser, SASLPassword: saslPassword}
}

// producer is a client of the secured broker, as the API's is.
func producer(t *testing.T, addrs []string, sec kafka.Security) *kgo.Client {
	t.Helper()
	opts, err := kafka.Opts(sec, addrs, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// TestTopicVerifierConnectsWithTheKafkaSecurity: the topic check's client
// — its admin calls and the reader kafka.ReadRange makes — is built by
// kafka.Opts with the bench's Kafka security: against a broker that wants
// TLS and SASL it reads the topic with the right settings and is refused
// without them, never showing the password.
func TestTopicVerifierConnectsWithTheKafkaSecurity(t *testing.T) {
	cluster, sec := securedBroker(t, "posts", "orders")
	addrs := cluster.ListenAddrs()
	cl := producer(t, addrs, sec)

	cfg := Config{KafkaBrokers: addrs, KafkaSecurity: sec}
	tv, err := openTopicVerifier(t.Context(), cfg, []string{"posts", "orders"})
	if err != nil {
		t.Fatalf("open with TLS and SASL: %v", err)
	}
	defer tv.close()
	from, err := tv.ends(t.Context(), "orders")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"o-1", "o-2", "o-2", "o-3"} { // o-2 twice; o-4 never
		if err := cl.ProduceSync(t.Context(), &kgo.Record{Topic: "orders", Key: []byte(id), Value: []byte("{}")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	v, err := tv.check(t.Context(), "orders", from, promises{accepted: []sentPost{{"o-1", "o-1"}, {"o-2", "o-2"}, {"o-4", "o-4"}}})
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	if v.Accepted != 3 || v.Landed != 2 || v.Lost != 1 || v.Duplicated != 1 || v.Where != "topic" {
		t.Errorf("verification %+v, want 3 accepted, 2 landed, 1 lost, 1 duplicated, on the topic", v)
	}
	// A topic the broker does not know is waited for a while, then refused.
	defer func(w time.Duration) { topicWait = w }(topicWait)
	topicWait = 500 * time.Millisecond
	start := time.Now()
	if _, err := openTopicVerifier(t.Context(), cfg, []string{"clicks"}); err == nil || !strings.Contains(err.Error(), "clicks") {
		t.Errorf("a topic that does not exist: %v", err)
	}
	if waited := time.Since(start); waited < topicWait {
		t.Errorf("gave up on the topic after %s, want a wait of %s", waited, topicWait)
	}

	wrong := sec
	wrong.SASLPassword += "-wrong"
	noTLS := sec
	noTLS.TLS, noTLS.CAFile = false, ""
	untrusted := sec
	untrusted.CAFile = ""
	for name, s := range map[string]kafka.Security{"no security": {}, "wrong password": wrong, "no TLS": noTLS, "untrusted broker": untrusted,
		"SASL without a password": {TLS: true, CAFile: sec.CAFile, SASLMechanism: kafka.SASLScramSHA256, SASLUsername: saslUser}} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			tv, err := openTopicVerifier(ctx, Config{KafkaBrokers: addrs, KafkaSecurity: s}, []string{"posts"})
			if err == nil {
				tv.close()
				t.Fatal("opened")
			}
			if strings.Contains(err.Error(), saslPassword) {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
}

// TestRunChecksOrdersOnTheirTopic runs kafka and orders in two rounds
// against a fake API that produces what it accepts to a broker wanting
// TLS and SASL, as postpipe's does (no sink): every accepted post is found
// on the posts topic, every accepted order on its stream's topic, through
// the security the run was given; orders ÷ kafka is in the results, by
// round; the report says what ran.
func TestRunChecksOrdersOnTheirTopic(t *testing.T) {
	set := loadExampleStreams(t)
	ordersSt := set.Lookup("orders")
	cluster, sec := securedBroker(t, "bench.posts", ordersSt.Topic)
	addrs := cluster.ListenAddrs()
	cl := producer(t, addrs, sec)

	var invalid, next atomic.Int64
	produce := func(w http.ResponseWriter, r *http.Request, topic, id string) {
		if err := cl.ProduceSync(r.Context(), &kgo.Record{Topic: topic, Key: []byte(id), Value: []byte("{}")}).FirstErr(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprintf(w, `{"id":%q,"status":"accepted"}`, id)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("POST /v1/posts", func(w http.ResponseWriter, r *http.Request) {
		var in post.Input
		if json.NewDecoder(r.Body).Decode(&in) != nil || in.Validate() != nil {
			invalid.Add(1)
			w.WriteHeader(http.StatusUnprocessableEntity)
			return
		}
		produce(w, r, "bench.posts", fmt.Sprintf("p-%d", next.Add(1)))
	})
	mux.HandleFunc("GET /v1/orders", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"orders":[]}`) })
	mux.HandleFunc("POST /v1/orders", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		p, err := doc.Parse(body)
		var d doc.Document
		if err == nil {
			d, err = doc.Accept(ordersSt, p, time.Now(), func() string { return "" })
		}
		if err != nil {
			invalid.Add(1)
			w.WriteHeader(http.StatusUnprocessableEntity)
			return
		}
		produce(w, r, ordersSt.Topic, d.ID)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	cfg := Config{
		Target: srv.URL, Scenarios: []string{"kafka", "orders"}, Out: t.TempDir(),
		Load:         Load{Model: Closed, Stages: []Stage{{0, 3}, {300 * time.Millisecond, 3}}, Warmup: 100 * time.Millisecond, Rounds: 2},
		ContentBytes: 100, BatchSize: 10, Timeout: 5 * time.Second, DrainTimeout: 10 * time.Second,
		KafkaBrokers: addrs, KafkaTopic: "bench.posts", KafkaSecurity: sec, Streams: set,
		Processes: []ProcessGroup{{Name: "api", PIDs: []int{os.Getpid()}}}, IdleCheck: 50 * time.Millisecond,
	}
	res, err := Run(t.Context(), cfg)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if invalid.Load() != 0 {
		t.Errorf("the server refused %d posts or orders", invalid.Load())
	}
	if res.Run.Verify != "topic" || len(res.Scenarios) != 2 {
		t.Fatalf("verify %q, scenarios %+v", res.Run.Verify, res.Scenarios)
	}
	for _, s := range res.Scenarios {
		v := s.Verification
		if v == nil || v.Where != "topic" || v.Accepted == 0 || v.Landed != v.Accepted || v.Lost != 0 || v.Duplicated != 0 {
			t.Errorf("%s: verification %+v, want every accepted one on the topic once", s.Name, v)
		}
		if s.Errors != 0 || len(s.Rounds) != 2 || s.CPUUsPerPost == nil {
			t.Errorf("%s: %d errors %v, %d rounds, CPU per post %v", s.Name, s.Errors, s.ErrorsByStatus, len(s.Rounds), s.CPUUsPerPost)
		}
	}
	if v := res.Verification; v == nil || v.Accepted != res.Scenarios[0].Verification.Accepted+res.Scenarios[1].Verification.Accepted {
		t.Errorf("the run's verification %+v does not add both up", v)
	}
	if len(res.CPURatios) != 1 || res.CPURatios[0].Name != "orders ÷ kafka" || res.CPURatios[0].Basis != "api" {
		t.Errorf("cpu ratios %+v, want orders ÷ kafka over the api", res.CPURatios)
	}
	notes := strings.Join(res.Notes, "\n")
	if !strings.Contains(notes, "bench.posts, "+ordersSt.Topic) {
		t.Errorf("the notes do not name both topics checked:\n%s", notes)
	}
	md, err := os.ReadFile(filepath.Join(res.Dir, markdownFor))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| orders |", "orders ÷ kafka = ", "600-byte documents"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q:\n%s", want, md)
		}
	}

	// Without the security the check cannot be made, and the run says so
	// before sending any load.
	cfg.KafkaSecurity = kafka.Security{}
	cfg.Out = t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := Run(ctx, cfg); err == nil || !strings.Contains(err.Error(), "topic check") {
		t.Errorf("run without the Kafka security: %v, want the topic check refused", err)
	}
}
