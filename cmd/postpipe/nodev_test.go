package main

import (
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// devKit are the import paths (or parts of them) that belong to the
// development kit and must stay out of the production binary.
var devKit = []string{
	"github.com/FerretDB/",
	"github.com/twmb/franz-go/pkg/kfake",
	"modernc.org/sqlite",
	"github.com/postpipe/postpipe/internal/devstack",
	"github.com/postpipe/postpipe/internal/bench",
	"github.com/postpipe/postpipe/internal/testkit",
}

// TestProductionBinaryHasNoDevKit lists what -tags nodev (the Dockerfile's
// build) links into cmd/postpipe, and, as a check that the list shows the
// kit at all, what the development build links.
func TestProductionBinaryHasNoDevKit(t *testing.T) {
	for _, tt := range []struct {
		tags    string
		wantKit bool
	}{
		{tags: "nodev", wantKit: false},
		{tags: "", wantKit: true},
	} {
		t.Run("tags="+tt.tags, func(t *testing.T) {
			out, err := exec.Command("go", "list", "-deps", "-tags", tt.tags, ".").Output()
			if err != nil {
				t.Fatalf("go list -deps -tags %q: %v", tt.tags, err)
			}
			var found []string
			for pkg := range strings.Lines(string(out)) {
				pkg = strings.TrimSpace(pkg)
				if slices.ContainsFunc(devKit, func(k string) bool { return strings.HasPrefix(pkg, k) }) {
					found = append(found, pkg)
				}
			}
			if tt.wantKit && len(found) == 0 {
				t.Fatalf("-tags %q: no development-kit package among the dependencies; is the check still looking at the right names?", tt.tags)
			}
			if !tt.wantKit && len(found) > 0 {
				t.Fatalf("-tags %q links the development kit: %s", tt.tags, strings.Join(found, ", "))
			}
		})
	}
}

// 'make test' runs the nodev build's tests by the name prefix TestNoDev (the
// rest of the package needs the embedded stack): a test in a nodev file under
// another name would silently not run.
func TestNoDevTestsAreNamedForMakeTest(t *testing.T) {
	files, err := filepath.Glob("*_nodev_test.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no *_nodev_test.go files (%v)", err)
	}
	for _, f := range files {
		file, err := parser.ParseFile(token.NewFileSet(), f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for name, obj := range file.Scope.Objects {
			if strings.HasPrefix(name, "Test") && obj.Kind.String() == "func" && !strings.HasPrefix(name, "TestNoDev") {
				t.Errorf("%s: %s does not start with TestNoDev, so 'make test' does not run it", f, name)
			}
		}
	}
}
