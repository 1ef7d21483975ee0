// Package config holds postpipe's settings: one section per component (its
// fields, defaults, flags, checks and log attributes), the sections each
// command combines, how flags and POSTPIPE_* environment variables fill
// them, and the reference generated from them. It decides nothing about how
// the settings are used: that is the wiring's job in cmd/postpipe.
//
// The sections live here rather than in the component packages so those
// stay free of flag parsing, and so one package sees every setting: the
// environment names, the unknown-variable warning and the generated
// reference need them all.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"regexp"
)

// Config is every setting of every command, one embedded section per
// component; a command registers, and so reads, only its own sections (see
// Commands). The sections are embedded so a setting is addressed by its
// own name (cfg.HTTPAddr) wherever it is used.
type Config struct {
	Logging
	Service
	HTTP
	Keys
	Auth
	Kafka
	Topics
	Producer
	Group
	Sink
	Store
	Data
	Stack
	DLQ
	Reads
	Streams

	// origin is how the command line set settings, for Validate's
	// messages; nil when it set none.
	origin *origin
}

// origin is the settings the command line of cmd set: each one's variable
// and the flag as typed.
type origin struct {
	cmd   string
	flags map[string]string
}

// MaxBatchPosts is the most posts one batch request may carry.
const MaxBatchPosts = 500

// Bounds of the topic settings. Validate keeps the settings within them, so
// they fit the int32 and int16 the Kafka protocol carries them in.
const (
	MaxPartitions  = 10000
	MaxReplication = math.MaxInt16 // 32767
)

// Default returns the defaults, each section's own.
func Default() Config {
	return Config{
		Logging:  defaultLogging(),
		Service:  defaultService(),
		HTTP:     defaultHTTP(),
		Auth:     defaultAuth(),
		Kafka:    defaultKafka(),
		Topics:   defaultTopics(),
		Producer: defaultProducer(),
		Group:    defaultGroup(),
		Sink:     defaultSink(),
		Store:    defaultStore(),
		Data:     defaultData(),
		Stack:    defaultStack(),
		DLQ:      defaultDLQ(),
		Reads:    defaultReads(),
	}
}

// section is one component's settings.
type section interface {
	// register adds the section's flags; the environment names follow from
	// the flag names (EnvName).
	register(fs *flagSet)
	// validate reports each invalid setting through bad, by its
	// environment name.
	validate(bad badFunc)
	// attrs are the settings for the start-up log, secrets masked.
	attrs() []slog.Attr
}

type badFunc func(env, format string, args ...any)

// Section names a section in Commands.
type Section string

// The sections.
const (
	SectionLogging  Section = "logging"
	SectionService  Section = "service"
	SectionHTTP     Section = "http"
	SectionKeys     Section = "keys"
	SectionAuth     Section = "auth"
	SectionKafka    Section = "kafka"
	SectionTopics   Section = "topics"
	SectionProducer Section = "producer"
	SectionGroup    Section = "group"
	SectionSink     Section = "sink"
	SectionStore    Section = "store"
	SectionData     Section = "data"
	SectionStack    Section = "stack"
	SectionDLQ      Section = "dlq"
	SectionReads    Section = "reads"
	SectionStreams  Section = "streams"
)

// allSections is every section in the order of Config.
var allSections = []Section{SectionLogging, SectionService, SectionHTTP, SectionKeys, SectionAuth, SectionKafka,
	SectionTopics, SectionProducer, SectionGroup, SectionSink, SectionStore, SectionData, SectionStack, SectionDLQ, SectionReads, SectionStreams}

func (c *Config) section(s Section) section {
	switch s {
	case SectionLogging:
		return &c.Logging
	case SectionService:
		return &c.Service
	case SectionHTTP:
		return &c.HTTP
	case SectionKeys:
		return &c.Keys
	case SectionAuth:
		return &c.Auth
	case SectionKafka:
		return &c.Kafka
	case SectionTopics:
		return &c.Topics
	case SectionProducer:
		return &c.Producer
	case SectionGroup:
		return &c.Group
	case SectionSink:
		return &c.Sink
	case SectionStore:
		return &c.Store
	case SectionData:
		return &c.Data
	case SectionStack:
		return &c.Stack
	case SectionDLQ:
		return &c.DLQ
	case SectionReads:
		return &c.Reads
	case SectionStreams:
		return &c.Streams
	}
	panic("config: unknown section " + string(s))
}

// Validate reports every invalid setting at once, each named as the user
// gave it: by its flag when the command line set it, else by its
// environment variable. A setting of the command line makes the error a
// *UsageError (the command line is wrong: exit 2). Sections a command
// does not register keep their defaults, which are valid, so one Validate
// serves every command.
func (c Config) Validate() error {
	var errs []error
	fromFlags := false
	bad := func(env, format string, args ...any) {
		msg := env + ": " + fmt.Sprintf(format, args...)
		if c.origin != nil {
			// Every setting the message names, the subject and those it
			// is compared with, as the user gave it.
			msg = variableName.ReplaceAllStringFunc(msg, func(v string) string {
				if flag, ok := c.origin.flags[v]; ok {
					fromFlags = true
					return flag
				}
				return v
			})
		}
		errs = append(errs, errors.New(msg))
	}
	for _, s := range allSections {
		c.section(s).validate(bad)
	}
	// Checks across sections.
	if c.AdminAddr != "" && c.AdminAddr == c.HTTPAddr {
		bad("POSTPIPE_ADMIN_ADDR", "must differ from POSTPIPE_HTTP_ADDR (%q)", c.HTTPAddr)
	}
	if int64(c.KafkaMaxBufferedBytes) < c.MaxBodyBytes {
		bad("POSTPIPE_KAFKA_MAX_BUFFERED_BYTES", "must be at least POSTPIPE_MAX_BODY_BYTES (%d), got %d", c.MaxBodyBytes, c.KafkaMaxBufferedBytes)
	}
	err := errors.Join(errs...)
	switch {
	case err == nil:
		return nil
	case fromFlags:
		return &UsageError{Cmd: c.origin.cmd, Err: fmt.Errorf("invalid configuration:\n%w", err)}
	}
	return fmt.Errorf("invalid configuration:\n%w", err)
}

// variableName is a POSTPIPE_* name in a message.
var variableName = regexp.MustCompile(`POSTPIPE_[A-Z0-9_]*[A-Z0-9]`)

// LogValue lets the whole config be logged with credentials masked; For
// logs a command's own sections only.
func (c Config) LogValue() slog.Value { return c.attrs(allSections) }

// For is the config as command cmd sees it, for the start-up log: its own
// sections, credentials masked.
func (c Config) For(cmd string) slog.LogValuer {
	return logValuer(func() slog.Value { return c.attrs(sectionsOf(cmd)) })
}

type logValuer func() slog.Value

func (f logValuer) LogValue() slog.Value { return f() }

func (c Config) attrs(sections []Section) slog.Value {
	var attrs []slog.Attr
	for _, s := range sections {
		attrs = append(attrs, c.section(s).attrs()...)
	}
	return slog.GroupValue(attrs...)
}
