package config

import (
	"flag"
	"fmt"
	"log/slog"
	"slices"
	"strings"
)

// The range of POSTPIPE_RATE_LIMIT and POSTPIPE_RATE_BURST. Below one
// request a day a key is as good as off, and waits that long are announced
// as at most an hour anyway; above a million a second (or a burst of a
// million) the limit is no limit.
const (
	MinRateLimit = 1.0 / 86400
	MaxRateLimit = 1e6
	MaxRateBurst = 1_000_000
)

// SASL mechanisms POSTPIPE_KAFKA_SASL_MECHANISM accepts.
var saslMechanisms = []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}

func (s Security) validate() []error {
	var errs []error
	bad := func(env, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", env, fmt.Sprintf(format, args...)))
	}
	for _, p := range s.AuthExempt {
		if !strings.HasPrefix(p, "/") {
			bad("POSTPIPE_AUTH_EXEMPT", "%q is not a path (must start with /)", p)
		}
	}
	// NaN fails both comparisons, so it is refused too.
	if s.RateLimit != 0 && !(s.RateLimit >= MinRateLimit && s.RateLimit <= MaxRateLimit) {
		bad("POSTPIPE_RATE_LIMIT", "must be 0 (off) or requests per second from %g (one a day) to %g, got %v", MinRateLimit, MaxRateLimit, s.RateLimit)
	}
	if s.RateLimit > 0 && (s.RateBurst < 1 || s.RateBurst > MaxRateBurst) {
		bad("POSTPIPE_RATE_BURST", "must be from 1 to %d, got %d", MaxRateBurst, s.RateBurst)
	}
	if !s.KafkaTLS && (s.KafkaTLSCAFile != "" || s.KafkaTLSCertFile != "" || s.KafkaTLSKeyFile != "") {
		bad("POSTPIPE_KAFKA_TLS", "must be true when a POSTPIPE_KAFKA_TLS_* file is set")
	}
	if (s.KafkaTLSCertFile == "") != (s.KafkaTLSKeyFile == "") {
		bad("POSTPIPE_KAFKA_TLS_CERT_FILE", "and POSTPIPE_KAFKA_TLS_KEY_FILE must be set together")
	}
	switch {
	case s.KafkaSASLMechanism == "":
		if s.KafkaSASLUsername != "" || s.KafkaSASLPassword != "" {
			bad("POSTPIPE_KAFKA_SASL_MECHANISM", "must be set when a SASL username or password is")
		}
	case !slices.Contains(saslMechanisms, s.KafkaSASLMechanism):
		bad("POSTPIPE_KAFKA_SASL_MECHANISM", "must be one of %s, got %q", strings.Join(saslMechanisms, ", "), s.KafkaSASLMechanism)
	case s.KafkaSASLUsername == "" || s.KafkaSASLPassword == "":
		bad("POSTPIPE_KAFKA_SASL_USERNAME", "and POSTPIPE_KAFKA_SASL_PASSWORD are both needed for SASL")
	}
	return errs
}

// attrs are the security settings for the start-up log: file names and
// the SASL user, never the password or a key.
func (s Security) attrs() []slog.Attr {
	return []slog.Attr{
		slog.String("api_keys_file", s.APIKeysFile),
		slog.String("auth_exempt", strings.Join(s.AuthExempt, ",")),
		slog.Float64("rate_limit", s.RateLimit),
		slog.Int("rate_burst", s.RateBurst),
		slog.Bool("kafka_tls", s.KafkaTLS),
		slog.String("kafka_tls_ca_file", s.KafkaTLSCAFile),
		slog.String("kafka_tls_cert_file", s.KafkaTLSCertFile),
		slog.String("kafka_sasl_mechanism", s.KafkaSASLMechanism),
		slog.String("kafka_sasl_username", s.KafkaSASLUsername),
	}
}

func (s *Security) register(fs *flag.FlagSet) {
	fs.StringVar(&s.APIKeysFile, "api-keys-file", s.APIKeysFile, "file of API keys ('name:sha256-hex' lines, see 'postpipe apikey'); set: requests need Authorization: Bearer <key>")
	fs.Var((*listValue)(&s.AuthExempt), "auth-exempt", "comma-separated paths served without a key when keys are on (',' for none)")
	fs.Float64Var(&s.RateLimit, "rate-limit", s.RateLimit, "requests per second per API key (per client address without keys); 0: no limit")
	fs.IntVar(&s.RateBurst, "rate-burst", s.RateBurst, "requests a client may send at once above the rate limit")
	fs.BoolVar(&s.KafkaTLS, "kafka-tls", s.KafkaTLS, "connect to Kafka over TLS")
	fs.StringVar(&s.KafkaTLSCAFile, "kafka-tls-ca-file", s.KafkaTLSCAFile, "PEM CA certificates to verify the brokers with (default: the system's)")
	fs.StringVar(&s.KafkaTLSCertFile, "kafka-tls-cert-file", s.KafkaTLSCertFile, "PEM client certificate for mutual TLS")
	fs.StringVar(&s.KafkaTLSKeyFile, "kafka-tls-key-file", s.KafkaTLSKeyFile, "PEM key of the client certificate")
	fs.StringVar(&s.KafkaSASLMechanism, "kafka-sasl-mechanism", s.KafkaSASLMechanism, "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; empty: no SASL")
	fs.StringVar(&s.KafkaSASLUsername, "kafka-sasl-username", s.KafkaSASLUsername, "SASL username")
	fs.StringVar(&s.KafkaSASLPassword, "kafka-sasl-password", s.KafkaSASLPassword, "SASL password (prefer the environment variable: flags show in ps)")
}
