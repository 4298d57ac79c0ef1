package main

import (
	"bytes"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// knobEnv sets every test knob, and --node-id, through the environment.
var knobEnv = map[string]string{
	"KVNODE_NODE_ID":                 "n7",
	"KVNODE_TEST_NO_HINTS":           "true",
	"KVNODE_TEST_NO_ANTI_ENTROPY":    "true",
	"KVNODE_TEST_NO_BLOCKING_REPAIR": "true",
	"KVNODE_TEST_CLOCK_OFFSET":       "5s",
}

func TestParseFlags_testKnobsNotFromEnvironment(t *testing.T) {
	var stdout bytes.Buffer
	cfg, err := parseFlags([]string{"--data-dir", "d"}, func(k string) string { return knobEnv[k] }, &stdout)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.NodeID != "n7" {
		t.Errorf("NodeID = %q, want n7 from KVNODE_NODE_ID: other flags keep their variable", cfg.NodeID)
	}
	if cfg.TestNoHints || cfg.TestNoAntiEntropy || cfg.TestNoBlockingRepair || cfg.TestClockOffset != 0 {
		t.Errorf("test knobs taken from the environment: %+v", cfg)
	}
}

func TestParseFlags_testKnobsFromFlags(t *testing.T) {
	var stdout bytes.Buffer
	cfg, err := parseFlags([]string{"--node-id", "n1", "--data-dir", "d", "--test-no-hints", "--test-no-anti-entropy",
		"--test-no-blocking-repair", "--test-clock-offset", "2s"}, func(string) string { return "" }, &stdout)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.TestNoHints || !cfg.TestNoAntiEntropy || !cfg.TestNoBlockingRepair || cfg.TestClockOffset != 2*time.Second {
		t.Errorf("test knobs not set by their flags: %+v", cfg)
	}
}

func TestWarnTestKnobs(t *testing.T) {
	var stdout, logs bytes.Buffer
	cfg, err := parseFlags([]string{"--node-id", "n1", "--data-dir", "d", "--test-no-hints", "--test-no-anti-entropy",
		"--test-no-blocking-repair"}, func(string) string { return "" }, &stdout)
	if err != nil {
		t.Fatal(err)
	}
	warnTestKnobs(cfg, func(k string) string { return knobEnv[k] }, slog.New(slog.NewTextHandler(&logs, nil)))
	out := logs.String()
	for _, flag := range []string{"--test-no-hints", "--test-no-anti-entropy", "--test-no-blocking-repair"} {
		if !strings.Contains(out, "level=WARN msg=\"test knob set") || !strings.Contains(out, "flag="+flag) {
			t.Errorf("no warning for %s:\n%s", flag, out)
		}
	}
	for _, v := range []string{"KVNODE_TEST_NO_HINTS", "KVNODE_TEST_NO_ANTI_ENTROPY", "KVNODE_TEST_NO_BLOCKING_REPAIR", "KVNODE_TEST_CLOCK_OFFSET"} {
		if !strings.Contains(out, "var="+v) {
			t.Errorf("no warning that %s is ignored:\n%s", v, out)
		}
	}

	logs.Reset()
	warnTestKnobs(cfg, func(string) string { return "" }, slog.New(slog.NewTextHandler(&logs, nil)))
	if n := strings.Count(logs.String(), "level=WARN"); n != 3 {
		t.Errorf("%d warnings for 3 knobs set, want 3:\n%s", n, logs.String())
	}
}

func TestRun_helpOnceOnStdout(t *testing.T) {
	for _, arg := range []string{"--help", "-h", "-help"} {
		t.Run(arg, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run([]string{arg}, func(string) string { return "" }, &stdout, &stderr)
			if code != exitOK || stderr.Len() != 0 {
				t.Errorf("exit %d, stderr %q; want 0 and nothing", code, stderr.String())
			}
			if n := strings.Count(stdout.String(), "kvnode runs one quorumkv node."); n != 1 {
				t.Errorf("help printed %d times on stdout, want once:\n%s", n, stdout.String())
			}
			for _, want := range []string{"--node-id string", "[$KVNODE_NODE_ID]", "--version\n"} {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("help lacks %q", want)
				}
			}
			if strings.Contains(stdout.String(), "test-") || strings.Contains(stdout.String(), "KVNODE_VERSION") {
				t.Errorf("help lists a test knob or $KVNODE_VERSION:\n%s", stdout.String())
			}
		})
	}
}

func TestRun_version(t *testing.T) {
	var stdout, stderr bytes.Buffer
	// --version wins over missing required flags, and KVNODE_VERSION is
	// not a way to set it.
	code := run([]string{"--version"}, func(string) string { return "" }, &stdout, &stderr)
	if code != exitOK || stderr.Len() != 0 {
		t.Errorf("exit %d, stderr %q; want 0 and nothing", code, stderr.String())
	}
	if !regexp.MustCompile(`^kvnode \S+ commit \S+ (go\S+|unknown)\n$`).MatchString(stdout.String()) {
		t.Errorf("stdout %q, want one line: kvnode VERSION commit COMMIT GOVERSION", stdout.String())
	}
	stdout.Reset()
	stderr.Reset()
	code = run(nil, func(k string) string { return map[string]string{"KVNODE_VERSION": "true"}[k] }, &stdout, &stderr)
	if code != exitUsage || stdout.Len() != 0 {
		t.Errorf("KVNODE_VERSION=true without flags: exit %d, stdout %q; want 2 (no --node-id) and nothing", code, stdout.String())
	}
}

func TestRun_badFlagIsOneErrorLine(t *testing.T) {
	for name, args := range map[string][]string{
		"unknown flag": {"--bogus"},
		"bad value":    {"--vnodes", "x"},
		"argument":     {"--node-id", "n1", "extra"},
	} {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(args, func(string) string { return "" }, &stdout, &stderr)
			if code != exitUsage || stdout.Len() != 0 {
				t.Errorf("exit %d, stdout %q; want 2 and nothing", code, stdout.String())
			}
			if s := stderr.String(); !strings.HasPrefix(s, "error: ") || strings.Count(s, "\n") != 1 || !strings.HasSuffix(s, "(see kvnode --help)\n") {
				t.Errorf("stderr %q, want one line starting with \"error: \"", s)
			}
		})
	}
}

// A bad --replace is refused at start: exit 2, one line naming the flag.
func TestRun_badReplace(t *testing.T) {
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"its own id":   {[]string{"--replace", "n5", "--join", "127.0.0.1:7101"}, "is \"n5\", this node's own id"},
		"not an id":    {[]string{"--replace", "-n3", "--join", "127.0.0.1:7101"}, "is not a node id"},
		"without join": {[]string{"--replace", "n3"}, "needs --join"},
	} {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := append([]string{"--node-id", "n5", "--data-dir", t.TempDir()}, tc.args...)
			code := run(args, func(string) string { return "" }, &stdout, &stderr)
			if code != exitUsage || stdout.Len() != 0 {
				t.Errorf("exit %d, stdout %q; want 2 and nothing", code, stdout.String())
			}
			if s := stderr.String(); !strings.HasPrefix(s, "error: --replace: ") || strings.Count(s, "\n") != 1 || !strings.Contains(s, tc.want) {
				t.Errorf("stderr %q, want one line naming --replace and saying %q", s, tc.want)
			}
		})
	}
}
