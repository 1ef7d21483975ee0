package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/postpipe/postpipe/internal/api"
	"github.com/postpipe/postpipe/internal/apikey"
	"github.com/postpipe/postpipe/internal/config"
	"github.com/postpipe/postpipe/internal/kafka"
)

// kafkaSecurity is the Kafka section's TLS and SASL settings as
// kafka.Opts takes them: the one place the settings are read, so every
// client the binary makes (producer, sink consumer, topic creation, the dlq
// tools, the bench's topic check) connects alike.
func kafkaSecurity(cfg config.Config) kafka.Security {
	return kafka.Security{
		TLS:           cfg.KafkaTLS,
		CAFile:        cfg.KafkaTLSCAFile,
		CertFile:      cfg.KafkaTLSCertFile,
		KeyFile:       cfg.KafkaTLSKeyFile,
		SASLMechanism: cfg.KafkaSASLMechanism,
		SASLUsername:  cfg.KafkaSASLUsername,
		SASLPassword:  cfg.KafkaSASLPassword,
	}
}

// newGuard loads the API keys and rate limit the API runs behind.
func newGuard(cfg config.Config, log *slog.Logger) (api.Guard, error) {
	g := api.Guard{Exempt: cfg.AuthExempt, RateLimit: cfg.RateLimit, RateBurst: cfg.RateBurst}
	if cfg.APIKeysFile != "" {
		keys, err := apikey.Load(cfg.APIKeysFile)
		if err != nil {
			return api.Guard{}, err
		}
		g.Keys = keys
		log.Info("API keys required", "keys", keys.Len(), "exempt", cfg.AuthExempt)
	}
	return g, nil
}

// runAPIKey is 'postpipe apikey NAME': mint a key and print the secret once
// and the line for the keys file, which holds only its hash.
func runAPIKey(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("postpipe apikey", flag.ContinueOnError)
	if err := parseFlags(fs, "apikey", args); err != nil {
		return err
	}
	switch fs.NArg() {
	case 0:
		return config.Usagef("apikey", "apikey: want a NAME (letters, digits, '.', '_', '-')")
	case 1:
	default:
		return config.Usagef("apikey", "unexpected argument %q", fs.Arg(1))
	}
	name := fs.Arg(0)
	secret, line, err := apikey.Mint(name)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "API key for %s (shown only now; give it to the client, who sends Authorization: Bearer <key>):\n%s\n\nLine for POSTPIPE_API_KEYS_FILE:\n%s\n", name, secret, line)
	return err
}
