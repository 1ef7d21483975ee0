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
}

// Reference is the Markdown reference of every setting, generated from
// the registered flags: which sections each command combines, then each
// section's settings with their flag, variable, default and meaning.
func Reference() string {
	var b strings.Builder
	b.WriteString("| command | sections |\n|---|---|\n")
	for _, cmd := range Commands {
		var titles []string
		for _, s := range cmd.Sections {
			titles = append(titles, "["+sectionTitles[s]+"](#"+string(s)+")")
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
		fmt.Fprintf(&b, "\n<a id=\"%s\"></a>\n### %s\n\nUsed by %s.\n\n", s, sectionTitles[s], strings.Join(users, ", "))
		b.WriteString("| variable | flag | default | meaning |\n|---|---|---|---|\n")
		c := Default()
		fs := flag.NewFlagSet(string(s), flag.ContinueOnError)
		c.section(s).register(fs)
		fs.VisitAll(func(f *flag.Flag) {
			def := "*(empty)*"
			if f.DefValue != "" {
				def = "`" + f.DefValue + "`"
			}
			fmt.Fprintf(&b, "| `%s` | `--%s` | %s | %s |\n", EnvName(f.Name), f.Name, def, strings.ReplaceAll(f.Usage, "|", "\\|"))
		})
	}
	return b.String()
}
