package composecheck

import (
	"fmt"
	"maps"
	"net"
	"regexp"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// publicExtension marks a service whose published ports are meant for
// other machines: `x-postpipe-public: true`. No service has it today; the
// api's port is on 127.0.0.1 too.
const publicExtension = "x-postpipe-public"

// A check returns what is wrong with the project, one line a problem.
type check func(p project, known map[string]map[string]bool) []string

var checks = map[string]check{
	"images pinned":            checkImages,
	"awaited services healthy": checkHealthchecks,
	"depends_on healthy":       checkDependsOn,
	"ports on loopback":        checkPorts,
	"known settings":           checkSettings,
}

// runsLocalImage: the service builds its image, or runs the one another
// service builds (the sink runs the api's postpipe:dev): a local name,
// never pulled, so not a tag to pin.
func runsLocalImage(p project, s types.ServiceConfig) bool {
	if s.Build != nil {
		return true
	}
	for _, o := range p.Services {
		if o.Build != nil && o.Image != "" && o.Image == s.Image {
			return true
		}
	}
	return false
}

// exactVersion is a tag that names one release: major.minor.patch, then
// anything (1.0.2-20-alpine3.19). 8 and 8.0 move with each release.
var exactVersion = regexp.MustCompile(`^v?[0-9]+\.[0-9]+\.[0-9]+([-+._][0-9A-Za-z._+-]*)?$`)

// checkImages: every pulled image is pinned: by digest, or by a tag that
// names an exact version (no tag, latest, a bare major or major.minor
// tag all move).
func checkImages(p project, _ map[string]map[string]bool) []string {
	var problems []string
	for _, s := range p.services() {
		if runsLocalImage(p, s) {
			continue
		}
		ref := s.Image
		if _, digest, ok := strings.Cut(ref, "@"); ok && strings.HasPrefix(digest, "sha256:") {
			continue
		}
		tag := ""
		if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
			tag = ref[i+1:]
		}
		switch {
		case ref == "":
			problems = append(problems, fmt.Sprintf("%s: no image and nothing built", s.Name))
		case tag == "" || tag == "latest":
			problems = append(problems, fmt.Sprintf("%s: image %s is not pinned: it pulls latest, whatever that is that day", s.Name, ref))
		case !exactVersion.MatchString(tag):
			problems = append(problems, fmt.Sprintf("%s: image %s is not pinned to an exact version: the tag %s moves to each new release; name one (major.minor.patch)", s.Name, ref, tag))
		}
	}
	return problems
}

// checkHealthchecks: a service another waits for has a health check of
// its own in the file (an image's HEALTHCHECK cannot be seen from here,
// and service_healthy on a service without one never comes).
func checkHealthchecks(p project, _ map[string]map[string]bool) []string {
	waiters := map[string][]string{}
	for _, s := range p.services() {
		for dep := range s.DependsOn {
			waiters[dep] = append(waiters[dep], s.Name)
		}
	}
	var problems []string
	for _, name := range slices.Sorted(maps.Keys(waiters)) {
		s, ok := p.Services[name]
		if !ok {
			continue // the loader's consistency check names a missing service
		}
		if hc := s.HealthCheck; hc == nil || hc.Disable || len(hc.Test) == 0 || hc.Test[0] == "NONE" {
			problems = append(problems, fmt.Sprintf("%s: %s wait for it, but it has no healthcheck", name, strings.Join(waiters[name], ", ")))
		}
	}
	return problems
}

// checkDependsOn: every dependency is awaited healthy, not merely started
// (a broker or store that has started is not yet answering).
func checkDependsOn(p project, _ map[string]map[string]bool) []string {
	var problems []string
	for _, s := range p.services() {
		for _, dep := range slices.Sorted(maps.Keys(s.DependsOn)) {
			if c := s.DependsOn[dep].Condition; c != types.ServiceConditionHealthy {
				problems = append(problems, fmt.Sprintf("%s: depends_on %s with condition %s: want %s", s.Name, dep, c, types.ServiceConditionHealthy))
			}
		}
	}
	return problems
}

// checkPorts: a published port listens on loopback only, unless the
// service says x-postpipe-public: true (every interface meant).
func checkPorts(p project, _ map[string]map[string]bool) []string {
	var problems []string
	for _, s := range p.services() {
		public := false
		if v, ok := s.Extensions[publicExtension]; ok {
			if b, isBool := v.(bool); isBool {
				public = b
			} else {
				problems = append(problems, fmt.Sprintf("%s: %s is %v: want true or false", s.Name, publicExtension, v))
			}
		}
		if public {
			continue
		}
		if s.NetworkMode == "host" {
			problems = append(problems, fmt.Sprintf("%s: network_mode host puts every port it opens on every interface of the host; publish ports on 127.0.0.1 instead, or mark the service %s: true", s.Name, publicExtension))
		}
		for _, port := range s.Ports {
			if ip := net.ParseIP(port.HostIP); ip != nil && ip.IsLoopback() {
				continue
			}
			on := port.HostIP
			if on == "" {
				on = "every interface"
			}
			problems = append(problems, fmt.Sprintf("%s: port %d published as %s on %s: bind it to loopback (\"127.0.0.1:%s:%d\"), or mark the service %s: true if other machines are meant to reach it",
				s.Name, port.Target, port.Published, on, port.Published, port.Target, publicExtension))
		}
	}
	return problems
}

// checkSettings: each POSTPIPE_* variable a service running postpipe gets
// is a setting of the command it runs (docs/configuration.md), and only
// services running postpipe get any.
func checkSettings(p project, known map[string]map[string]bool) []string {
	var problems []string
	for _, s := range p.services() {
		var vars []string
		for name := range s.Environment {
			if strings.HasPrefix(name, "POSTPIPE_") {
				vars = append(vars, name)
			}
		}
		slices.Sort(vars)
		if !runsLocalImage(p, s) {
			for _, v := range vars {
				problems = append(problems, fmt.Sprintf("%s: sets %s, but it does not run postpipe", s.Name, v))
			}
			continue
		}
		if len(s.Command) == 0 {
			problems = append(problems, fmt.Sprintf("%s: runs postpipe without a command: name it (api, sink)", s.Name))
			continue
		}
		cmd := s.Command[0]
		settings, ok := known[cmd]
		if !ok {
			problems = append(problems, fmt.Sprintf("%s: runs postpipe %s, which reads no setting of docs/configuration.md", s.Name, cmd))
			continue
		}
		for _, v := range vars {
			if !settings[v] {
				problems = append(problems, fmt.Sprintf("%s: %s is no setting of postpipe %s (docs/configuration.md): it does not read it", s.Name, v, cmd))
			}
		}
	}
	return problems
}
