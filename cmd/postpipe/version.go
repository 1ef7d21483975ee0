package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set at link time by the Makefile and the Dockerfile:
// -X main.versionOverride=… -X main.revisionOverride=….
var versionOverride, revisionOverride string

// version is the release, as 'postpipe version' prints it: the link-time
// one, else the module version (go install …@v1.2.3), else "dev".
func version() string {
	if versionOverride != "" {
		return versionOverride
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// revision is the commit the binary was built from: the link-time one (the
// Makefile's git rev-parse HEAD, the image's REVISION build argument), else
// the one the go command stamped from the checkout (vcs.revision, with
// "-dirty" for uncommitted changes), else "unknown": built outside a
// checkout, or with -buildvcs=false and no override.
func revision() string {
	if revisionOverride != "" {
		return revisionOverride
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	rev, dirty := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	switch {
	case rev == "":
		return "unknown"
	case dirty:
		return rev + "-dirty"
	}
	return rev
}

// versionLine is what 'postpipe version' prints.
func versionLine() string {
	return fmt.Sprintf("postpipe %s (revision %s, %s)", version(), revision(), runtime.Version())
}
