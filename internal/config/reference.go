package config

import (
	"flag"
	"fmt"
	"strings"
)

// sectionTitles name the sections in the reference.
var sectionTitles = map[Section]string{
	SectionLogging:  "Logging",
	SectionService:  "Service (admin listener, shutdown)",
	SectionHTTP:     "HTTP API",
	SectionKeys:     "API keys",
	SectionAuth:     "API access",
	SectionKafka:    "Kafka connection and topic names",
	SectionTopics:   "Topic settings at creation",
	SectionProducer: "Producer",
	SectionGroup:    "Consumer group",
	SectionSink:     "Sink",
	SectionStore:    "Store",
	SectionData:     "Data directory",
	SectionStack:    "Development stack (`postpipe stack`)",
	SectionDLQ:      "Dead-letter tools (`postpipe dlq`)",
	SectionReads:    "Reads (GET routes)",
	SectionStreams:  "Streams",
}

// Reference is the Markdown reference of every setting, generated from
// the registered flags: which sections each command combines, then each
// section's settings with their variable, flag, type, default and
// meaning, the default as --help shows it.
func Reference() string {
	var b strings.Builder
	b.WriteString("| command | sections |\n|---|---|\n")
	for _, cmd := range Commands {
		var titles []string
		for _, s := range cmd.Sections {
			titles = append(titles, "["+sectionTitles[s]+"](#"+slug(sectionTitles[s])+")")
		}
		fmt.Fprintf(&b, "| `postpipe %s` | %s |\n", cmd.Name, strings.Join(titles, ", "))
	}
	for _, s := range allSections {
		var users []string
		for _, cmd := range Commands {
			for _, cs := range cmd.Sections {
				if cs == s {
					users = append(users, "`"+cmd.Name+"`")
				}
			}
		}
		fmt.Fprintf(&b, "\n### %s\n\nUsed by %s.\n\n", sectionTitles[s], strings.Join(users, ", "))
		b.WriteString("| variable | flag | type | default | meaning |\n|---|---|---|---|---|\n")
		c := Default()
		fs := flag.NewFlagSet(string(s), flag.ContinueOnError)
		vars := map[string]string{}
		c.registerSection(s, fs, vars)
		fs.VisitAll(func(f *flag.Flag) {
			typ := FlagType(f)
			if typ == "" {
				typ = "bool"
			}
			def := "*(see meaning)*"
			switch d, ok := DefaultText(f); {
			case ok && d == "":
				def = "*(none)*"
			case ok:
				def = "`" + d + "`"
			}
			fmt.Fprintf(&b, "| `%s` | `--%s` | %s | %s | %s |\n", vars[f.Name], f.Name, typ, def, strings.ReplaceAll(f.Usage, "|", "\\|"))
		})
	}
	return b.String()
}

// slug is the anchor GitHub gives a heading: lower case, punctuation
// dropped, spaces as hyphens.
func slug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('-')
		}
	}
	return b.String()
}
