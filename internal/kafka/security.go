package kafka

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// Security is how a client proves itself to the brokers and protects the
// connection. The zero value is plaintext without authentication.
type Security struct {
	TLS bool
	// CAFile verifies the brokers with these PEM certificates instead of
	// the system's roots.
	CAFile string
	// CertFile and KeyFile, together, are a client certificate (mTLS).
	CertFile, KeyFile string

	// SASLMechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; empty: none.
	SASLMechanism string
	SASLUsername  string
	SASLPassword  string
}

// SASL mechanisms the service supports.
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
)

// Opts are the options every Kafka client postpipe makes starts from — the
// producer, the sink's consumer, topic creation, the dlq tools and the
// bench's topic check: brokers, client id and logger (ClientOpts) plus TLS
// and SASL as sec says. It is the only place they are put together, so no
// client can leave the security settings out; callers append their own
// options (producer or consumer settings, another client id) and call
// kgo.NewClient. The slice is clipped: each caller that appends gets an
// array of its own. Errors are SecurityOpts's.
func Opts(sec Security, brokers []string, log *slog.Logger) ([]kgo.Opt, error) {
	secOpts, err := SecurityOpts(sec)
	if err != nil {
		return nil, err
	}
	return slices.Clip(append(ClientOpts(brokers, log), secOpts...)), nil
}

// SecurityOpts turns s into client options, to append to ClientOpts (Opts
// does both). Errors name files and settings, never the password.
func SecurityOpts(s Security) ([]kgo.Opt, error) {
	var opts []kgo.Opt
	if s.TLS {
		cfg, err := s.tlsConfig()
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(cfg))
	}
	if s.SASLMechanism != "" {
		m, err := s.mechanism()
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.SASL(m))
	}
	return opts, nil
}

func (s Security) tlsConfig() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.CAFile != "" {
		pem, err := os.ReadFile(s.CAFile)
		if err != nil {
			return nil, fmt.Errorf("kafka tls ca file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kafka tls ca file %s: no PEM certificate in it", s.CAFile)
		}
		cfg.RootCAs = pool
	}
	if (s.CertFile == "") != (s.KeyFile == "") {
		return nil, errors.New("kafka tls: a client certificate needs both the cert and the key file")
	}
	if s.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(s.CertFile, s.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("kafka tls client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

func (s Security) mechanism() (sasl.Mechanism, error) {
	if s.SASLUsername == "" || s.SASLPassword == "" {
		return nil, fmt.Errorf("kafka sasl %s: needs a username and a password", s.SASLMechanism)
	}
	switch s.SASLMechanism {
	case SASLPlain:
		return plain.Auth{User: s.SASLUsername, Pass: s.SASLPassword}.AsMechanism(), nil
	case SASLScramSHA256:
		return scram.Auth{User: s.SASLUsername, Pass: s.SASLPassword}.AsSha256Mechanism(), nil
	case SASLScramSHA512:
		return scram.Auth{User: s.SASLUsername, Pass: s.SASLPassword}.AsSha512Mechanism(), nil
	default:
		return nil, fmt.Errorf("kafka sasl mechanism %q: want %s, %s or %s", s.SASLMechanism, SASLPlain, SASLScramSHA256, SASLScramSHA512)
	}
}
