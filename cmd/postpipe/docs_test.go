package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The README is a front page that sends readers into docs/; a file moved or a
// heading renamed there must not leave a link pointing at nothing. These
// tests read only the Markdown files, so they cost a few milliseconds.

var (
	mdLink      = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	mdHeading   = regexp.MustCompile(`^#{1,6}\s+(.*?)\s*#*\s*$`)
	codeSpan    = regexp.MustCompile("`[^`]*`")
	notSlugChar = regexp.MustCompile(`[^\p{L}\p{N}\s_-]`)
)

// docFiles are the Markdown files whose relative links are checked, as paths
// from the repository root.
func docFiles(t *testing.T, root string) []string {
	t.Helper()
	files := []string{"README.md"}
	for _, pattern := range []string{"docs/*.md", "deploy/*/README.md"} {
		matches, err := filepath.Glob(filepath.Join(root, pattern))
		if err != nil {
			t.Fatalf("glob %s: %v", pattern, err)
		}
		for _, m := range matches {
			rel, err := filepath.Rel(root, m)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, filepath.ToSlash(rel))
		}
	}
	return files
}

// stripCode drops fenced blocks and code spans: a "](x)" inside them is text,
// not a link, and a "# comment" inside a fence is not a heading.
func stripCode(text string) []string {
	var lines []string
	fenced := false
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		if fenced {
			continue
		}
		lines = append(lines, line)
	}
	return lines
}

// anchors returns the fragment ids GitHub gives the headings of a Markdown
// text: lower case, punctuation dropped, spaces turned into hyphens, and
// "-1", "-2" … appended to repeats.
func anchors(text string) map[string]bool {
	ids := map[string]bool{}
	seen := map[string]int{}
	for _, line := range stripCode(text) {
		m := mdHeading.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		slug := strings.ToLower(m[1])
		slug = notSlugChar.ReplaceAllString(slug, "")
		slug = strings.ReplaceAll(slug, " ", "-")
		id := slug
		if n := seen[slug]; n > 0 {
			id = slug + "-" + strconv.Itoa(n)
		}
		seen[slug]++
		ids[id] = true
	}
	return ids
}

// brokenLinks lists the relative links of the file at rel (from root) whose
// target file or #anchor does not exist.
func brokenLinks(root, rel string) ([]string, error) {
	text, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		return nil, err
	}
	var broken []string
	for _, line := range stripCode(string(text)) {
		// Code spans first: `[x](y)` in backquotes is an example, not a link,
		// but a link whose text is a code span keeps its target.
		line = codeSpan.ReplaceAllString(line, "code")
		for _, m := range mdLink.FindAllStringSubmatch(line, -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			path, fragment, _ := strings.Cut(target, "#")
			file := rel
			if path != "" {
				file = filepath.ToSlash(filepath.Join(filepath.Dir(rel), path))
				if _, err := os.Stat(filepath.Join(root, file)); err != nil {
					broken = append(broken, target+": no such file")
					continue
				}
			}
			if fragment == "" || !strings.HasSuffix(file, ".md") {
				continue
			}
			body, err := os.ReadFile(filepath.Join(root, file))
			if err != nil {
				return nil, err
			}
			if !anchors(string(body))[fragment] {
				broken = append(broken, target+": no heading #"+fragment+" in "+file)
			}
		}
	}
	return broken, nil
}

func TestDocLinks(t *testing.T) {
	root := filepath.Join("..", "..")
	for _, rel := range docFiles(t, root) {
		broken, err := brokenLinks(root, rel)
		if err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		for _, b := range broken {
			t.Errorf("%s: broken link %s", rel, b)
		}
	}
}

func TestBrokenLinksFindsBadTargets(t *testing.T) {
	root := t.TempDir()
	write := func(rel, text string) {
		t.Helper()
		path := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("docs/a.md", "# A\n\n## Guarantees and failure behaviour\n\n## Make `test-ui` work (now)\n\n## Repeat\n\n## Repeat\n")
	write("api/openapi.yaml", "openapi: 3.1.0\n")

	tests := []struct {
		name   string
		readme string
		broken int
	}{
		{"file", "[a](docs/a.md)", 0},
		{"anchor", "[a](docs/a.md#guarantees-and-failure-behaviour)", 0},
		{"anchor with code and punctuation", "[a](docs/a.md#make-test-ui-work-now)", 0},
		{"repeated heading", "[a](docs/a.md#repeat-1)", 0},
		{"non-markdown file", "[spec](api/openapi.yaml)", 0},
		{"absolute URL", "[x](https://example.com/nothing.md)", 0},
		{"in a code span", "`[x](nothing.md)`", 0},
		{"in a fence", "```\n[x](nothing.md)\n```", 0},
		{"own anchor", "# Top\n[t](#top)", 0},
		{"missing file", "[x](docs/b.md)", 1},
		{"missing anchor", "[x](docs/a.md#guarantees)", 1},
		{"missing repeat", "[x](docs/a.md#repeat-2)", 1},
		{"missing own anchor", "# Top\n[t](#bottom)", 1},
		{"two on a line", "[x](docs/b.md) and [y](docs/a.md#nope)", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			write("README.md", tt.readme+"\n")
			broken, err := brokenLinks(root, "README.md")
			if err != nil {
				t.Fatal(err)
			}
			if len(broken) != tt.broken {
				t.Errorf("broken = %q, want %d", broken, tt.broken)
			}
		})
	}
}
