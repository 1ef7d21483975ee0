package kafka_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/postpipe/postpipe/internal/kafka"
	"github.com/postpipe/postpipe/internal/testkit"
)

const (
	saslUser     = "postpipe"
	saslPassword = "pw-8f3e1c-never-logged"
)

// syncBuffer is a log sink the client's goroutines may write to.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// pki is a CA with a server and a client certificate, written as PEM files.
type pki struct {
	caFile, clientCert, clientKey string
	server                        tls.Certificate
	pool                          *x509.CertPool
}

func newPKI(t *testing.T) pki {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	issue := func(serial int64, name string, usage x509.ExtKeyUsage) (certPEM, keyPEM []byte) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
			pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	}
	write := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	p := pki{pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	p.caFile = write("ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}))
	serverCert, serverKey := issue(2, "broker", x509.ExtKeyUsageServerAuth)
	if p.server, err = tls.X509KeyPair(serverCert, serverKey); err != nil {
		t.Fatal(err)
	}
	cert, key := issue(3, "postpipe", x509.ExtKeyUsageClientAuth)
	p.clientCert, p.clientKey = write("client.pem", cert), write("client-key.pem", key)
	return p
}

// produce connects with kafka.Opts(sec, …), as every client of the binary
// does, and writes one record; it returns the error and
// everything the client logged.
func produce(t *testing.T, addrs []string, sec kafka.Security) (logs string, err error) {
	t.Helper()
	buf := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts, err := kafka.Opts(sec, addrs, log)
	if err != nil {
		return buf.String(), err
	}
	opts = append(opts, kgo.DefaultProduceTopic("t"), kgo.RequestRetries(0), kgo.RecordRetries(1),
		kgo.RecordDeliveryTimeout(3*time.Second))
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return buf.String(), err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = cl.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr()
	return buf.String(), err
}

func TestSecurityAgainstKfake(t *testing.T) {
	p := newPKI(t)
	for _, tt := range []struct {
		name       string
		mechanism  string
		tls        bool
		clientAuth bool
	}{
		{"SCRAM-SHA-256", kafka.SASLScramSHA256, false, false},
		{"SCRAM-SHA-512 over TLS", kafka.SASLScramSHA512, true, false},
		{"PLAIN over mutual TLS", kafka.SASLPlain, true, true},
		{"mutual TLS alone", "", true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			kopts := []kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(1, "t")}
			if tt.mechanism != "" {
				kopts = append(kopts, kfake.EnableSASL(), kfake.Superuser(tt.mechanism, saslUser, saslPassword))
			}
			if tt.tls {
				srv := &tls.Config{Certificates: []tls.Certificate{p.server}, MinVersion: tls.VersionTLS12}
				if tt.clientAuth {
					srv.ClientAuth, srv.ClientCAs = tls.RequireAndVerifyClientCert, p.pool
				}
				kopts = append(kopts, kfake.TLS(srv))
			}
			cluster := testkit.Kafka(t, kopts...)
			addrs := cluster.ListenAddrs()

			good := kafka.Security{TLS: tt.tls, CAFile: p.caFile}
			if tt.clientAuth {
				good.CertFile, good.KeyFile = p.clientCert, p.clientKey
			}
			if tt.mechanism != "" {
				good.SASLMechanism, good.SASLUsername, good.SASLPassword = tt.mechanism, saslUser, saslPassword
			}
			if logs, err := produce(t, addrs, good); err != nil {
				t.Fatalf("produce with the right settings: %v\nlogs:\n%s", err, logs)
			}

			var refused []kafka.Security
			if tt.mechanism != "" {
				wrong := good
				wrong.SASLPassword = saslPassword + "-wrong"
				none := good
				none.SASLMechanism = ""
				refused = append(refused, wrong, none)
			}
			if tt.tls {
				plaintext := good
				plaintext.TLS = false
				untrusted := good
				untrusted.CAFile = "" // the system roots do not know the test CA
				refused = append(refused, plaintext, untrusted)
			}
			if tt.clientAuth {
				noCert := good
				noCert.CertFile, noCert.KeyFile = "", ""
				refused = append(refused, noCert)
			}
			for i, sec := range refused {
				logs, err := produce(t, addrs, sec)
				if err == nil {
					t.Fatalf("case %d: produce succeeded with %+v", i, redacted(sec))
				}
				for _, secret := range []string{saslPassword, saslPassword + "-wrong"} {
					if strings.Contains(err.Error(), secret) || strings.Contains(logs, secret) {
						t.Fatalf("case %d: the password appears in the error or logs:\n%v\n%s", i, err, logs)
					}
				}
			}
		})
	}
}

func redacted(s kafka.Security) kafka.Security {
	if s.SASLPassword != "" {
		s.SASLPassword = "xxxxx"
	}
	return s
}

func TestSecurityOptsRefuses(t *testing.T) {
	p := newPKI(t)
	for _, tt := range []struct {
		name    string
		sec     kafka.Security
		wantErr string
	}{
		{"unknown mechanism", kafka.Security{SASLMechanism: "GSSAPI", SASLUsername: "u", SASLPassword: saslPassword}, "GSSAPI"},
		{"no username", kafka.Security{SASLMechanism: kafka.SASLPlain, SASLPassword: saslPassword}, "username"},
		{"no password", kafka.Security{SASLMechanism: kafka.SASLPlain, SASLUsername: "u"}, "password"},
		{"missing CA file", kafka.Security{TLS: true, CAFile: filepath.Join(t.TempDir(), "none.pem")}, "ca file"},
		{"CA file without PEM", kafka.Security{TLS: true, CAFile: p.clientKey + ".nope"}, "ca file"},
		{"cert without key", kafka.Security{TLS: true, CertFile: p.clientCert}, "both"},
		{"key that is not the cert's", kafka.Security{TLS: true, CertFile: p.clientCert, KeyFile: p.caFile}, "client certificate"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := kafka.SecurityOpts(tt.sec)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), saslPassword) {
				t.Fatalf("error %q shows the password", err)
			}
		})
	}
	if opts, err := kafka.SecurityOpts(kafka.Security{}); err != nil || len(opts) != 0 {
		t.Fatalf("zero Security: %d opts, %v", len(opts), err)
	}
}

// TestOptsRefusesAndIsClipped: Opts refuses what SecurityOpts refuses, and
// two callers appending their own options to one result never share an
// array (the producer's options must not leak into the consumer's).
func TestOptsRefusesAndIsClipped(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	if _, err := kafka.Opts(kafka.Security{SASLMechanism: kafka.SASLPlain, SASLUsername: "u"}, []string{"127.0.0.1:9"}, log); err == nil || !strings.Contains(err.Error(), "password") {
		t.Fatalf("SASL without a password: %v, want refused", err)
	}
	base, err := kafka.Opts(kafka.Security{SASLMechanism: kafka.SASLPlain, SASLUsername: "u", SASLPassword: saslPassword}, []string{"127.0.0.1:9"}, log)
	if err != nil {
		t.Fatal(err)
	}
	if want := len(kafka.ClientOpts(nil, log)) + 1; len(base) != want {
		t.Fatalf("%d options, want the %d of ClientOpts and SASL", len(base), want)
	}
	a := append(base, kgo.ClientID("a"))
	b := append(base, kgo.ClientID("b"))
	if &a[len(base)] == &b[len(base)] {
		t.Fatal("two appends to Opts' result share one array")
	}
}
