package e2e

import (
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/internal/testkit"
)

func TestSingleNode_dataCommandsAtEveryLevel(t *testing.T) {
	n := startNode(t, nodeOpts{})
	for _, level := range []string{"one", "quorum", "all", "QUORUM"} {
		key := "k-" + level
		n.must("put", key, "v-"+level, "-c", level)
		if got := n.must("get", key, "-c", level); got != "v-"+level+"\n" {
			t.Fatalf("get at %s: %q", level, got)
		}
		n.must("delete", key, "-c", level)
		n.expect(1, nil, "get", key, "-c", level)
	}

	// A value from stdin is taken byte for byte.
	val := []byte("line one\nline two\x00\xff")
	if r := kvctl(t, n.grpc, val, "put", "bin", "-"); r.code != 0 {
		t.Fatalf("put from stdin: %v", r)
	}
	j := jsonOf(t, n.must("-o", "json", "get", "bin"))
	if j["encoding"] != "base64" {
		t.Fatalf("non-UTF-8 value not base64: %v", j)
	}
	vals := j["values"].([]any)
	if got, _ := base64.StdEncoding.DecodeString(vals[0].(string)); string(got) != string(val) {
		t.Fatalf("stdin value: got %q want %q", got, val)
	}

	// An empty value is a value.
	n.must("put", "empty", "")
	if got := n.must("get", "empty"); got != "\n" {
		t.Fatalf("empty value: %q", got)
	}

	// Sets.
	n.must("sadd", "colors", "red", "green", "blue")
	n.must("srem", "colors", "green")
	if got := n.must("smembers", "colors"); got != "blue\nred\n" {
		t.Fatalf("smembers: %q", got)
	}
	if got := n.must("smembers", "no-such-set"); got != "" {
		t.Fatalf("smembers of a missing key printed %q", got)
	}
	// Deleting a missing key is fine; getting it is exit 1.
	n.must("delete", "never-written")
	n.expect(1, nil, "get", "never-written")
}

func TestSingleNode_jsonOutput(t *testing.T) {
	n := startNode(t, nodeOpts{})
	put := jsonOf(t, n.must("-o", "json", "put", "a", "1", "-c", "all"))
	if put["key"] != "a" {
		t.Fatalf("put json: %v", put)
	}
	rec := put["receipt"].(map[string]any)
	for _, f := range []string{"coordinator", "level", "required", "acknowledged", "failed", "pending", "applied", "read_repair", "hints_written"} {
		if _, ok := rec[f]; !ok {
			t.Fatalf("receipt lacks %q: %v", f, rec)
		}
	}
	if rec["coordinator"] != "n1" || rec["applied"] != "all" || !reflect.DeepEqual(rec["acknowledged"], []any{"n1"}) {
		t.Fatalf("receipt: %v", rec)
	}
	get := jsonOf(t, n.must("-o", "json", "get", "a"))
	if !reflect.DeepEqual(get["values"], []any{"1"}) || get["context"] == "" || get["receipt"] == nil {
		t.Fatalf("get json: %v", get)
	}
	n.must("sadd", "s", "x")
	sm := jsonOf(t, n.must("-o", "json", "smembers", "s"))
	if !reflect.DeepEqual(sm["members"], []any{"x"}) || sm["key"] != "s" {
		t.Fatalf("smembers json: %v", sm)
	}
	ring := jsonOf(t, n.must("-o", "json", "ring", "a"))
	if !reflect.DeepEqual(ring["replicas"], []any{"n1"}) || ring["partition"] == nil {
		t.Fatalf("ring json: %v", ring)
	}
	st := jsonOf(t, n.must("-o", "json", "status"))
	for _, f := range []string{"node_id", "joined", "members_alive", "keys", "tombstones", "hints_pending", "storage_bytes", "live_bytes", "last_anti_entropy", "digest"} {
		if _, ok := st[f]; !ok {
			t.Fatalf("status lacks %q: %v", f, st)
		}
	}
	if st["node_id"] != "n1" || st["joined"] != true || st["keys"] != float64(2) || st["members_alive"] != float64(1) ||
		st["live_bytes"].(float64) <= 0 || st["live_bytes"].(float64) > st["storage_bytes"].(float64) {
		t.Fatalf("status: %v", st)
	}
	n.must("delete", "a")
	st = jsonOf(t, n.must("-o", "json", "status"))
	if st["keys"] != float64(1) || st["tombstones"] != float64(1) {
		t.Fatalf("status after delete: %v", st)
	}
	mem := jsonOf(t, n.must("-o", "json", "members"))
	m0 := mem["members"].([]any)[0].(map[string]any)
	if m0["id"] != "n1" || m0["state"] != "alive" || m0["ring_state"] != "normal" || m0["ownership"] != float64(1) {
		t.Fatalf("members: %v", mem)
	}
}

func TestSingleNode_siblings(t *testing.T) {
	n := startNode(t, nodeOpts{args: []string{"--conflict", "siblings", "--max-siblings", "3"}})
	// Blind puts are concurrent: both are kept.
	n.must("put", "k", "a")
	n.must("put", "k", "b")
	j := jsonOf(t, n.must("-o", "json", "get", "k"))
	if !reflect.DeepEqual(j["values"], []any{"a", "b"}) {
		t.Fatalf("siblings: %v", j["values"])
	}
	if got := n.must("get", "k"); got != "a\nb\n" {
		t.Fatalf("siblings in text: %q", got)
	}
	// A put with the context resolves exactly what the read saw.
	ctx := j["context"].(string)
	n.must("put", "k", "c")                          // concurrent with the read: survives
	n.must("put", "k", "resolved", "--context", ctx) // replaces a and b
	j = jsonOf(t, n.must("-o", "json", "get", "k"))
	if !reflect.DeepEqual(j["values"], []any{"c", "resolved"}) {
		t.Fatalf("after resolving: %v", j["values"])
	}
	// Too many siblings: refused, nothing written.
	n.must("put", "k", "d")
	n.expect(2, []string{"siblings", "--max-siblings"}, "put", "k", "e")
	if got := n.must("get", "k"); got != "c\nresolved\nd\n" {
		t.Fatalf("after refused put: %q", got)
	}
	// Delete reads first and removes exactly what it saw.
	n.must("delete", "k")
	n.expect(1, nil, "get", "k")
}

func TestSingleNode_badInput(t *testing.T) {
	n := startNode(t, nodeOpts{args: []string{"--max-value-bytes", "10"}})
	other := startNode(t, nodeOpts{}) // another cluster: its tokens are foreign here
	n.must("put", "reg", "v")
	n.must("sadd", "set", "m")
	tok := jsonOf(t, n.must("-o", "json", "get", "reg"))["context"].(string)
	other.must("put", "reg", "v")
	foreign := jsonOf(t, other.must("-o", "json", "get", "reg"))["context"].(string)
	raw, _ := base64.RawURLEncoding.DecodeString(tok)
	raw[len(raw)-1] ^= 1
	tampered := base64.RawURLEncoding.EncodeToString(raw)

	tests := map[string]struct {
		args []string
		want []string
	}{
		"empty key":                 {[]string{"put", "", "v"}, []string{"key is empty"}},
		"key over the limit":        {[]string{"put", strings.Repeat("k", 1025), "v"}, []string{"1025 bytes", "1024"}},
		"value over the limit":      {[]string{"put", "k", "12345678901"}, []string{"11 bytes", "10 bytes", "--max-value-bytes"}},
		"unknown level":             {[]string{"get", "reg", "-c", "most"}, []string{`"most"`, "one, quorum or all"}},
		"set command on a register": {[]string{"sadd", "reg", "x"}, []string{"key holds a register"}},
		"register command on a set": {[]string{"put", "set", "x"}, []string{"key holds a set"}},
		"get of a set":              {[]string{"get", "set"}, []string{"key holds a set"}},
		"malformed token":           {[]string{"put", "reg", "v2", "--context", "AAAA"}, []string{"context token"}},
		"token not base64":          {[]string{"put", "reg", "v2", "--context", "!!"}, []string{"--context"}},
		"foreign token":             {[]string{"put", "reg", "v2", "--context", foreign}, []string{"another cluster"}},
		"tampered token":            {[]string{"put", "reg", "v2", "--context", tampered}, []string{"context token"}},
		"token of another key":      {[]string{"put", "other", "v2", "--context", tok}, []string{"another key"}},
		"missing argument":          {[]string{"put", "k"}, nil},
		"unknown command":           {[]string{"frobnicate"}, nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			n.expect(2, tc.want, tc.args...)
		})
	}
	// Nothing was changed by any of them.
	if got := n.must("get", "reg"); got != "v\n" {
		t.Fatalf("reg changed: %q", got)
	}
	if got := n.must("smembers", "set"); got != "m\n" {
		t.Fatalf("set changed: %q", got)
	}
	st := jsonOf(t, n.must("-o", "json", "status"))
	if st["keys"] != float64(2) || st["tombstones"] != float64(0) {
		t.Fatalf("status after bad input: %v", st)
	}
	// The default value limit is 1 MiB.
	big := make([]byte, 1<<20+1)
	if r := kvctl(t, other.grpc, big, "put", "big", "-"); r.code != 2 || !strings.Contains(r.stderr, "1048576") {
		t.Fatalf("value over the default limit: %v", r)
	}
	if r := kvctl(t, other.grpc, big[:1<<20], "put", "big", "-"); r.code != 0 {
		t.Fatalf("value at the default limit: %v", r)
	}
}

func TestSingleNode_exitCodes(t *testing.T) {
	n := startNode(t, nodeOpts{})
	// 4: no endpoint answered.
	r := kvctl(t, testkit.FreeAddr(t), nil, "--timeout", "500ms", "get", "k")
	checkResult(t, r, 4, nil, []string{"get"})
	// Falls over to the next endpoint that answers.
	if r := kvctl(t, testkit.FreeAddr(t)+","+n.grpc, nil, "put", "k", "v"); r.code != 0 {
		t.Fatalf("failover: %v", r)
	}
	// 3: a node that has not joined refuses every read and write, at
	// every level: what it took would later merge into a cluster that
	// never acknowledged it.
	lone := startUnjoined(t, nodeOpts{})
	for _, level := range []string{"one", "quorum", "all"} {
		lone.expect(3, []string{"not joined"}, "put", "k", "v", "-c", level)
		lone.expect(3, []string{"not joined"}, "get", "k", "-c", level)
		lone.expect(3, []string{"not joined"}, "sadd", "s", "m", "-c", level)
	}
	if st := jsonOf(t, lone.must("-o", "json", "status")); st["joined"] != false {
		t.Fatalf("status of a node not joined: %v", st)
	}
	// 2: a refused ring change (the only node of a cluster with N = 3).
	n.expect(2, []string{"replication factor", "--force"}, "leave")
	// 5: any other error (a backup to a directory that does not exist).
	n.expect(5, nil, "backup", "--out", filepath.Join(t.TempDir(), "missing", "backup"))
}

func TestKvnode_badStart(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	corrupt := filepath.Join(dir, "corrupt")
	if err := os.MkdirAll(corrupt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(corrupt, "data.db"), []byte(strings.Repeat("not a bbolt file ", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		opts nodeOpts
		code int
		want string
	}{
		"data dir is a file":  {nodeOpts{dataDir: file}, 1, "is not a directory"},
		"corrupt bbolt file":  {nodeOpts{dataDir: corrupt}, 1, "corrupt"},
		"bad flag value":      {nodeOpts{args: []string{"--max-siblings", "0"}}, 2, "--max-siblings"},
		"unparsable duration": {nodeOpts{args: []string{"--shutdown-timeout", "soon"}}, 2, "shutdown-timeout"},
		"grace below hints":   {nodeOpts{args: []string{"--tombstone-grace", "1h"}}, 2, "--tombstone-grace"},
		"unknown conflict":    {nodeOpts{args: []string{"--conflict", "newest"}}, 2, "conflict"},
		"every interface, no host to advertise": {nodeOpts{args: []string{"--grpc-addr", "0.0.0.0:7001", "--gossip-addr", "0.0.0.0:7101", "--insecure"}},
			2, "--advertise-grpc-addr: is required: --grpc-addr 0.0.0.0:7001 listens on every interface"},
		"unspecified advertised address": {nodeOpts{args: []string{"--advertise-gossip-addr", "0.0.0.0:7101"}}, 2, "--advertise-gossip-addr"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := spawn(t, tc.opts)
			if code := p.exitCode(10 * time.Second); code != tc.code {
				t.Fatalf("exit %d, want %d:\n%s", code, tc.code, p.stderr)
			}
			if !strings.Contains(p.stderr.String(), tc.want) {
				t.Fatalf("stderr lacks %q:\n%s", tc.want, p.stderr)
			}
		})
	}
	t.Run("env var", func(t *testing.T) {
		t.Setenv("KVNODE_MAX_KEY_BYTES", "-1")
		p := spawn(t, nodeOpts{})
		if code := p.exitCode(10 * time.Second); code != 2 || !strings.Contains(p.stderr.String(), "max-key-bytes") {
			t.Fatalf("exit %d:\n%s", code, p.stderr)
		}
	})
	t.Run("data dir held by another kvnode", func(t *testing.T) {
		a := startNode(t, nodeOpts{})
		start := time.Now()
		b := spawn(t, nodeOpts{dataDir: a.dataDir})
		if code := b.exitCode(15 * time.Second); code == 0 || !strings.Contains(b.stderr.String(), "in use by another kvnode") {
			t.Fatalf("exit %d:\n%s", code, b.stderr)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("took %v to refuse", d)
		}
		a.must("put", "still", "works")
	})
	t.Run("read-only filesystem", func(t *testing.T) {
		if _, err := exec.LookPath("unshare"); err != nil {
			t.Fatalf("unshare is needed for this test (util-linux): %v", err)
		}
		ro := filepath.Join(t.TempDir(), "ro")
		if err := os.MkdirAll(ro, 0o755); err != nil {
			t.Fatal(err)
		}
		// A read-only tmpfs in a private mount namespace: root ignores
		// permission bits, not a read-only mount.
		wrap := []string{"unshare", "-m", "--propagation", "private", "sh", "-c", `mount -t tmpfs -o ro tmpfs "$0" && exec "$@"`, ro}
		p := spawn(t, nodeOpts{dataDir: filepath.Join(ro, "data"), wrap: wrap})
		if code := p.exitCode(10 * time.Second); code != 1 || !strings.Contains(p.stderr.String(), "not writable") {
			t.Fatalf("exit %d:\n%s", code, p.stderr)
		}
	})
	t.Run("settings differ from the cluster's", func(t *testing.T) {
		a := startNode(t, nodeOpts{})
		a.cmd.Process.Signal(os.Interrupt)
		if code := a.exitCode(15 * time.Second); code != 0 {
			t.Fatalf("SIGINT: exit %d:\n%s", code, a.stderr)
		}
		b := spawn(t, nodeOpts{dataDir: a.dataDir, args: []string{"--conflict", "siblings"}})
		if code := b.exitCode(10 * time.Second); code != 2 || !strings.Contains(b.stderr.String(), "--conflict") {
			t.Fatalf("exit %d:\n%s", code, b.stderr)
		}
	})
	t.Run("second process under a live member's id", func(t *testing.T) {
		a := startNode(t, nodeOpts{})
		b := spawn(t, nodeOpts{args: []string{"--join", a.args[indexOf(a.args, "--gossip-addr")+1]}})
		if code := b.exitCode(20 * time.Second); code != 2 {
			t.Fatalf("exit %d, want 2:\n%s", code, b.stderr)
		}
		if !strings.Contains(b.stderr.String(), `--node-id: "n1" is already used by a live member`) {
			t.Fatalf("stderr does not name the id in use:\n%s", b.stderr)
		}
		a.must("put", "still", "works")
	})
	t.Run("restart under another cluster name", func(t *testing.T) {
		a := startNode(t, nodeOpts{})
		a.must("put", "k", "v")
		a.cmd.Process.Signal(os.Interrupt)
		if code := a.exitCode(15 * time.Second); code != 0 {
			t.Fatalf("SIGINT: exit %d:\n%s", code, a.stderr)
		}
		b := spawn(t, nodeOpts{dataDir: a.dataDir, args: []string{"--cluster-name", "other"}})
		if code := b.exitCode(10 * time.Second); code != 2 {
			t.Fatalf("exit %d, want 2:\n%s", code, b.stderr)
		}
		for _, want := range []string{"--cluster-name", `"other"`, `"e2e"`} {
			if !strings.Contains(b.stderr.String(), want) {
				t.Fatalf("stderr lacks %s:\n%s", want, b.stderr)
			}
		}
	})
}

// An object is bounded as a whole: a set add or a put under siblings that
// would take it past --max-object-bytes is refused naming the flag, and
// nothing is written; a write that shrinks it goes through.
func TestSingleNode_objectLimit(t *testing.T) {
	for _, policy := range []string{"lww", "siblings"} {
		t.Run(policy, func(t *testing.T) {
			n := startNode(t, nodeOpts{args: []string{"--max-value-bytes", "1000", "--max-object-bytes", "2500", "--conflict", policy}})
			m := func(c byte) string { return strings.Repeat(string(c), 1000) }
			n.must("sadd", "set", m('a'))
			n.must("sadd", "set", m('b'))
			n.expect(2, []string{"--max-object-bytes", "2500"}, "sadd", "set", m('c'))
			if got := n.must("smembers", "set"); got != m('a')+"\n"+m('b')+"\n" {
				t.Fatalf("the refused add changed the set: %d bytes", len(got))
			}
			n.must("srem", "set", m('a'))
			n.must("sadd", "set", m('c'))

			n.must("put", "reg", m('a'))
			n.must("put", "reg", m('b'))
			if policy == "lww" {
				return // a blind put replaces the winner: nothing grows
			}
			n.expect(2, []string{"--max-object-bytes"}, "put", "reg", m('c'))
			tok := jsonOf(t, n.must("-o", "json", "get", "reg"))["context"].(string)
			if vals := jsonOf(t, n.must("-o", "json", "get", "reg"))["values"].([]any); len(vals) != 2 {
				t.Fatalf("siblings after the refused put: %d, want 2", len(vals))
			}
			n.must("put", "reg", m('c'), "--context", tok) // resolves both: shrinks
			if got := n.must("get", "reg"); got != m('c')+"\n" {
				t.Fatalf("after resolving: %q", got)
			}
		})
	}
}
