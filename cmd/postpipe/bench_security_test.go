//go:build !nodev

package main

import (
	"strings"
	"testing"

	"github.com/postpipe/postpipe/internal/kafka"
)

// TestBenchKafkaSecurity: the bench's topic check reads the Kafka
// section's TLS and SASL settings from the variables every role reads.
func TestBenchKafkaSecurity(t *testing.T) {
	env := map[string]string{
		"POSTPIPE_KAFKA_TLS": "true", "POSTPIPE_KAFKA_TLS_CA_FILE": "/ca.pem", "POSTPIPE_KAFKA_TLS_CERT_FILE": "/c.pem", "POSTPIPE_KAFKA_TLS_KEY_FILE": "/k.pem",
		"POSTPIPE_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "POSTPIPE_KAFKA_SASL_USERNAME": "u", "POSTPIPE_KAFKA_SASL_PASSWORD": "secret",
	}
	sec, err := benchKafkaSecurity(func(k string) string { return env[k] })
	want := kafka.Security{TLS: true, CAFile: "/ca.pem", CertFile: "/c.pem", KeyFile: "/k.pem", SASLMechanism: "SCRAM-SHA-512", SASLUsername: "u", SASLPassword: "secret"}
	if err != nil || sec != want {
		t.Errorf("benchKafkaSecurity = %+v, %v; want %+v", sec, err, want)
	}
	if sec, err := benchKafkaSecurity(noEnv); err != nil || sec != (kafka.Security{}) {
		t.Errorf("nothing set: %+v, %v", sec, err)
	}
	if _, err := benchKafkaSecurity(func(k string) string { return map[string]string{"POSTPIPE_KAFKA_TLS": "yes please"}[k] }); err == nil || !strings.Contains(err.Error(), "POSTPIPE_KAFKA_TLS") {
		t.Errorf("a TLS setting that is no boolean: %v", err)
	}
}
