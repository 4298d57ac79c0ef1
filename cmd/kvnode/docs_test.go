package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/quorumkv/quorumkv/node"
)

var update = flag.Bool("update", false, "rewrite the flag table in docs/configuration.md (TestConfigurationDoc)")

const configurationDoc = "../../docs/configuration.md"

// flagTableRE matches the generated flag table in docs/configuration.md.
var flagTableRE = regexp.MustCompile(`(?s)(<!-- flags:begin[^\n]*-->\n).*?(<!-- flags:end -->)`)

// flagTable renders every flag kvnode --help lists, from the FlagSet
// parseFlags uses: name and value, environment variable, default, meaning.
func flagTable() string {
	cfg := node.DefaultConfig()
	fs, _, _ := newFlagSet(&cfg)
	var b strings.Builder
	b.WriteString("| flag | environment | default | meaning |\n|---|---|---|---|\n")
	fs.VisitAll(func(f *flag.Flag) {
		if isTestKnob(f.Name) {
			return
		}
		name, help := flag.UnquoteUsage(f)
		flagCol := "`--" + f.Name
		if name != "" {
			flagCol += " " + name
		}
		flagCol += "`"
		envCol := "—"
		if fromEnv(f.Name) {
			envCol = "`" + envName(f.Name) + "`"
		}
		def := "—"
		switch {
		case f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false":
			def = "`" + f.DefValue + "`"
		case strings.Contains(help, "(default "):
			// the default is said in the help itself (default lww, ...)
			i := strings.Index(help, "(default ")
			j := strings.Index(help[i:], ")")
			def = strings.TrimPrefix(help[i:i+j], "(default ")
			if k := strings.Index(def, ":"); k >= 0 {
				def = def[:k]
			}
			if !strings.HasPrefix(def, "empty") && !strings.HasPrefix(def, "the ") {
				def = "`" + def + "`"
			}
		case f.DefValue == "false":
			def = "`false`"
		}
		help = strings.ReplaceAll(help, "|", `\|`)
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", flagCol, envCol, def, help)
	})
	return b.String()
}

// TestConfigurationDoc checks that docs/configuration.md lists every kvnode
// flag with its variable, default and help, as rendered from the flag
// definitions; -update rewrites the table.
func TestConfigurationDoc(t *testing.T) {
	old, err := os.ReadFile(configurationDoc)
	if err != nil {
		t.Fatal(err)
	}
	if !flagTableRE.Match(old) {
		t.Fatalf("%s has no flags:begin/flags:end markers", configurationDoc)
	}
	table := flagTable()
	updated := []byte(flagTableRE.ReplaceAllStringFunc(string(old), func(m string) string {
		sub := flagTableRE.FindStringSubmatch(m)
		return sub[1] + table + sub[2]
	}))
	if bytes.Equal(updated, old) {
		return
	}
	if *update {
		if err := os.WriteFile(configurationDoc, updated, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s's flag table is out of date: run go test ./cmd/kvnode -run TestConfigurationDoc -update\nwant:\n%s", configurationDoc, table)
}

// TestConfigurationDoc_catchesDrift shows the table check can fail: a
// table missing a flag, or with a changed default, differs from the
// rendered one.
func TestConfigurationDoc_catchesDrift(t *testing.T) {
	table := flagTable()
	if !strings.Contains(table, "`--node-id ") && !strings.Contains(table, "`--node-id`") {
		t.Fatalf("the rendered table lacks --node-id:\n%s", table)
	}
	for _, want := range []string{"`KVNODE_NODE_ID`", "`--shutdown-timeout duration`", "`10s`", "`--config file`"} {
		if !strings.Contains(table, want) {
			t.Errorf("the rendered table lacks %s", want)
		}
	}
	for _, hidden := range []string{"test-clock-offset", "test-no-hints"} {
		if strings.Contains(table, hidden) {
			t.Errorf("the rendered table lists the test knob --%s", hidden)
		}
	}
	lines := strings.Split(strings.TrimSpace(table), "\n")
	dropped := strings.Join(append(append([]string{}, lines[:3]...), lines[4:]...), "\n") + "\n"
	if dropped == table {
		t.Fatal("dropping a row left the table equal: the comparison cannot fail")
	}
}

const (
	sampleConfig = "../../deploy/systemd/kvnode.toml"
	sampleUnit   = "../../deploy/systemd/kvnode.service"
)

// TestSampleConfig checks that the sample config of deploy/systemd parses
// with kvnode's config loader (every key a real flag, every value of its
// type) and validates, and that its paths are the documented layout.
func TestSampleConfig(t *testing.T) {
	cfg := node.DefaultConfig()
	fs, _, _ := newFlagSet(&cfg)
	values, err := configValues(sampleConfig, fs)
	if err != nil {
		t.Fatal(err)
	}
	if len(values) == 0 {
		t.Fatal("the sample config sets nothing")
	}
	got, err := parseFlags([]string{"--config", sampleConfig}, func(string) string { return "" }, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if err := got.Validate(); err != nil {
		t.Fatalf("the sample config does not validate: %v", err)
	}
	if got.DataDir != "/var/lib/quorumkv" {
		t.Errorf("data-dir = %q, want /var/lib/quorumkv (the unit's StateDirectory)", got.DataDir)
	}
	for _, p := range []string{got.TLSCert, got.TLSKey, got.TLSCA, got.GossipKeyFile} {
		if !strings.HasPrefix(p, "/etc/quorumkv/certs/") {
			t.Errorf("%q is not under /etc/quorumkv/certs/", p)
		}
	}

	// The unit must let a graceful stop finish: TimeoutStopSec above the
	// config's --shutdown-timeout.
	unit, err := os.ReadFile(sampleUnit)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^TimeoutStopSec=(\d+)s?$`).FindSubmatch(unit)
	if m == nil {
		t.Fatalf("%s has no TimeoutStopSec=N", sampleUnit)
	}
	var stop int
	fmt.Sscan(string(m[1]), &stop)
	if float64(stop) <= got.ShutdownTimeout.Seconds() {
		t.Errorf("TimeoutStopSec=%d does not exceed --shutdown-timeout %v", stop, got.ShutdownTimeout)
	}
	if !strings.Contains(string(unit), "--config /etc/quorumkv/kvnode.toml") {
		t.Errorf("%s does not start kvnode with --config /etc/quorumkv/kvnode.toml", sampleUnit)
	}
	for _, d := range []string{"NoNewPrivileges=yes", "ProtectSystem=strict", "ReadWritePaths=/var/lib/quorumkv",
		"PrivateTmp=yes", "ProtectHome=yes", "CapabilityBoundingSet=\n", "LimitNOFILE=", "Restart=on-failure", "KillSignal=SIGTERM"} {
		if !strings.Contains(string(unit), d) {
			t.Errorf("%s lacks %q", sampleUnit, strings.TrimSpace(d))
		}
	}
}

// TestSampleConfig_catchesAnUnknownKey shows the loader the sample test
// relies on refuses a key that is not a flag.
func TestSampleConfig_catchesAnUnknownKey(t *testing.T) {
	text, err := os.ReadFile(sampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	path := writeConfig(t, string(text)+"\nno-such-flag = 1\n")
	cfg := node.DefaultConfig()
	fs, _, _ := newFlagSet(&cfg)
	if _, err := configValues(path, fs); err == nil || !strings.Contains(err.Error(), `unknown key "no-such-flag"`) {
		t.Errorf("an unknown key was not refused: %v", err)
	}
}
