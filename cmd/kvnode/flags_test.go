package main

import (
	"bytes"
	"log/slog"
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
	var stderr bytes.Buffer
	cfg, err := parseFlags([]string{"--data-dir", "d"}, func(k string) string { return knobEnv[k] }, &stderr)
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
	var stderr bytes.Buffer
	cfg, err := parseFlags([]string{"--node-id", "n1", "--data-dir", "d", "--test-no-hints", "--test-no-anti-entropy",
		"--test-no-blocking-repair", "--test-clock-offset", "2s"}, func(string) string { return "" }, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.TestNoHints || !cfg.TestNoAntiEntropy || !cfg.TestNoBlockingRepair || cfg.TestClockOffset != 2*time.Second {
		t.Errorf("test knobs not set by their flags: %+v", cfg)
	}
}

func TestWarnTestKnobs(t *testing.T) {
	var stderr, logs bytes.Buffer
	cfg, err := parseFlags([]string{"--node-id", "n1", "--data-dir", "d", "--test-no-hints", "--test-no-anti-entropy",
		"--test-no-blocking-repair"}, func(string) string { return "" }, &stderr)
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
