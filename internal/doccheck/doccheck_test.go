package doccheck

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const root = "../.."

// userDocs returns README.md and every docs/*.md, relative to root.
func userDocs(t *testing.T) []string {
	t.Helper()
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) == 0 {
		t.Fatal("no docs/*.md")
	}
	return append([]string{filepath.Join(root, "README.md")}, docs...)
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var (
	fenceRE   = regexp.MustCompile("(?ms)^```.*?^```")
	linkRE    = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	headingRE = regexp.MustCompile(`(?m)^#{1,6} +(.+?) *$`)
	spanRE    = regexp.MustCompile("`([^`]+)`")
)

// slug is the anchor GitHub gives a heading.
func slug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		}
	}
	return b.String()
}

func anchors(text string) map[string]bool {
	out := map[string]bool{}
	for _, m := range headingRE.FindAllStringSubmatch(fenceRE.ReplaceAllString(text, ""), -1) {
		out[slug(strings.ReplaceAll(m[1], "`", ""))] = true
	}
	return out
}

// brokenLinks returns the relative links of the markdown file path whose
// file or heading does not exist.
func brokenLinks(t *testing.T, path, text string) []string {
	var bad []string
	for _, m := range linkRE.FindAllStringSubmatch(fenceRE.ReplaceAllString(text, ""), -1) {
		target := m[1]
		if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
			continue
		}
		file, anchor, _ := strings.Cut(target, "#")
		dest := path
		if file != "" {
			dest = filepath.Join(filepath.Dir(path), file)
			if _, err := os.Stat(dest); err != nil {
				bad = append(bad, target+": no such file")
				continue
			}
		}
		if anchor != "" && strings.HasSuffix(dest, ".md") && !anchors(read(t, dest))[anchor] {
			bad = append(bad, target+": no such heading")
		}
	}
	return bad
}

// TestLinks checks that every relative link of README.md and docs/
// reaches an existing file, and heading when it names one.
func TestLinks(t *testing.T) {
	for _, path := range userDocs(t) {
		for _, b := range brokenLinks(t, path, read(t, path)) {
			t.Errorf("%s: broken link %s", path, b)
		}
	}
}

func TestLinks_catchBrokenOnes(t *testing.T) {
	path := filepath.Join(root, "docs", "operations.md")
	bad := brokenLinks(t, path, "[a](no-such-file.md) [b](architecture.md#no-such-heading) [c](#monitoring)")
	if len(bad) != 2 {
		t.Errorf("broken links found: %v, want the first two", bad)
	}
}

// TestReadmeLinksEveryDoc checks that the README links every page of docs/.
func TestReadmeLinksEveryDoc(t *testing.T) {
	readme := read(t, filepath.Join(root, "README.md"))
	for _, path := range userDocs(t)[1:] {
		if !strings.Contains(readme, "](docs/"+filepath.Base(path)+")") {
			t.Errorf("README.md does not link docs/%s", filepath.Base(path))
		}
	}
}

// TestNoInternalReferences checks that what users read never points at the
// project's internal design notes.
func TestNoInternalReferences(t *testing.T) {
	paths := userDocs(t)
	extra, _ := filepath.Glob(filepath.Join(root, "deploy", "*", "*"))
	for _, path := range append(paths, extra...) {
		text := read(t, path)
		for _, banned := range []string{"DESIGN.md", "/work/shared"} {
			if strings.Contains(text, banned) {
				t.Errorf("%s mentions %s, which users never see", path, banned)
			}
		}
	}
}

// goSource returns the text of every non-test Go file of the module.
func goSource(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != root || d.Name() == "tools") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			b.WriteString(read(t, path))
			b.WriteByte('\n')
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// commandPrefixes start the code spans that name commands, flags,
// variables or paths rather than quote a message.
var commandPrefixes = []string{"kvctl", "kvnode", "-c ", "/", "quorumkv_", "KVCTL_", "KVNODE_", "timedatectl", "chronyc", "systemctl", "journalctl", "make"}

// flagErrorPrefix is how kvnode words a flag's error: "--flag: ...".
var flagErrorPrefix = regexp.MustCompile(`^--[a-z-]+: `)

// missingMessages returns the messages quoted in the troubleshooting
// section of text that the source does not hold: every code span of two
// words or more that is not a command, split at "…" (a value), each piece
// of two words or more found verbatim in src.
func missingMessages(text, src string) (checked int, missing []string) {
	begin := strings.Index(text, "<!-- troubleshooting:begin")
	end := strings.Index(text, "<!-- troubleshooting:end -->")
	if begin < 0 || end < begin {
		return 0, []string{"no troubleshooting:begin/end markers"}
	}
	section := fenceRE.ReplaceAllString(text[begin:end], "")
	for _, m := range spanRE.FindAllStringSubmatch(section, -1) {
		span := strings.Join(strings.Fields(m[1]), " ")
		if !strings.Contains(span, " ") || slices.ContainsFunc(commandPrefixes, func(p string) bool { return strings.HasPrefix(span, p) }) {
			continue
		}
		if strings.HasPrefix(span, "-") && !flagErrorPrefix.MatchString(span) {
			continue // a flag with its value
		}
		span = flagErrorPrefix.ReplaceAllString(span, "")
		checked++
		for _, piece := range strings.Split(span, "…") {
			piece = strings.TrimSpace(piece)
			if strings.Contains(piece, " ") && !strings.Contains(src, piece) {
				missing = append(missing, piece+"  (in `"+m[1]+"`)")
			}
		}
	}
	return checked, missing
}

// TestTroubleshootingMessages checks that the error and log messages
// docs/operations.md tells operators to look for are the code's own.
func TestTroubleshootingMessages(t *testing.T) {
	src := goSource(t)
	checked, missing := missingMessages(read(t, filepath.Join(root, "docs", "operations.md")), src)
	for _, m := range missing {
		t.Errorf("docs/operations.md quotes a message the code does not hold: %s", m)
	}
	if checked < 20 {
		t.Errorf("only %d messages checked: the section lost its markers or its messages", checked)
	}
}

func TestTroubleshootingMessages_catchAnInventedOne(t *testing.T) {
	text := "<!-- troubleshooting:begin -->\n`no seed in --join has answered yet` `kvctl members` `--vnodes: the node is grumpy today` `the node … has exploded into pieces`\n<!-- troubleshooting:end -->"
	_, missing := missingMessages(text, goSource(t))
	if len(missing) != 2 {
		t.Errorf("missing = %q, want the two invented messages", missing)
	}
}

var (
	helpFlagRE  = regexp.MustCompile(`(?m)^\s+(?:-[a-z], )?--([a-z-]+)`)
	helpEnvRE   = regexp.MustCompile(`\$(KVCTL_[A-Z_]+)`)
	tableFlagRE = regexp.MustCompile("(?m)^\\| `(?:-[a-z], )?--([a-z-]+)")
)

// TestKvctlFlagsDoc checks the kvctl table of docs/configuration.md
// against kvctl --help: the same global flags, every variable named.
func TestKvctlFlagsDoc(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "kvctl")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/kvctl").CombinedOutput(); err != nil {
		t.Fatalf("go build kvctl: %v\n%s", err, out)
	}
	var stdout bytes.Buffer
	cmd := exec.Command(bin, "--help")
	cmd.Stdout = &stdout
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	help := stdout.String()
	_, flags, ok := strings.Cut(help, "\nFlags:\n")
	if !ok {
		t.Fatalf("kvctl --help has no Flags: section:\n%s", help)
	}
	doc := read(t, filepath.Join(root, "docs", "configuration.md"))
	begin := strings.Index(doc, "<!-- kvctl-flags:begin")
	end := strings.Index(doc, "<!-- kvctl-flags:end -->")
	if begin < 0 || end < begin {
		t.Fatal("docs/configuration.md has no kvctl-flags:begin/end markers")
	}
	table := doc[begin:end]
	var inHelp, inDoc []string
	for _, m := range helpFlagRE.FindAllStringSubmatch(flags, -1) {
		inHelp = append(inHelp, m[1])
	}
	for _, m := range tableFlagRE.FindAllStringSubmatch(table, -1) {
		inDoc = append(inDoc, m[1])
	}
	slices.Sort(inHelp)
	slices.Sort(inDoc)
	if len(inHelp) == 0 || !slices.Equal(inHelp, inDoc) {
		t.Errorf("kvctl global flags: --help lists %v, docs/configuration.md %v", inHelp, inDoc)
	}
	for _, m := range helpEnvRE.FindAllStringSubmatch(flags, -1) {
		if !strings.Contains(table, "`"+m[1]+"`") {
			t.Errorf("docs/configuration.md's kvctl table does not name $%s", m[1])
		}
	}
}
