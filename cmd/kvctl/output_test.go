package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/quorumkv/quorumkv/client/clienttest"
	quorumkvv1 "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
)

// decode parses stdout as exactly one JSON object.
func decode(t *testing.T, stdout string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(stdout))
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		t.Fatalf("stdout is not a JSON object: %v\n%s", err, stdout)
	}
	if dec.More() {
		t.Fatalf("stdout holds more than one JSON value:\n%s", stdout)
	}
	return obj
}

func keysOf(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func sorted(ks ...string) []string { slices.Sort(ks); return ks }

var receiptFields = sorted("coordinator", "level", "required", "acknowledged", "failed", "pending", "applied", "read_repair", "hints_written")

func checkReceipt(t *testing.T, v any, level, applied string) {
	t.Helper()
	r, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("receipt = %#v, not an object", v)
	}
	if got := keysOf(r); !slices.Equal(got, receiptFields) {
		t.Errorf("receipt fields = %v, want %v", got, receiptFields)
	}
	for _, list := range []string{"acknowledged", "failed", "pending"} {
		if _, ok := r[list].([]any); !ok {
			t.Errorf("receipt %s = %#v, want a list", list, r[list])
		}
	}
	if r["level"] != level || r["applied"] != applied {
		t.Errorf("receipt level, applied = %v, %v, want %s, %s", r["level"], r["applied"], level, applied)
	}
}

func TestKvctl_jsonObjects(t *testing.T) {
	srv := clienttest.Start(t, "n1")
	srv.SetMemberList(
		&quorumkvv1.Member{Id: "n1", GrpcAddr: "127.0.0.1:7001", GossipAddr: "127.0.0.1:7101", State: quorumkvv1.Liveness_LIVENESS_ALIVE, RingState: quorumkvv1.RingState_RING_STATE_NORMAL, Ownership: 0.5},
		&quorumkvv1.Member{Id: "n2", GrpcAddr: "127.0.0.1:7002", GossipAddr: "127.0.0.1:7102", State: quorumkvv1.Liveness_LIVENESS_DEAD, RingState: quorumkvv1.RingState_RING_STATE_JOINING},
	)
	srv.SetRing(&quorumkvv1.RingResponse{Partition: 517, Replicas: []string{"n2", "n1"}})
	when := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	srv.SetStatus(&quorumkvv1.StatusResponse{
		NodeId: "n1", Joined: true, MembersAlive: 2, Keys: 10, Tombstones: 1, HintsPending: 3, StorageBytes: 4096,
		LastAntiEntropy: []*quorumkvv1.AntiEntropyRound{{Peer: "n2", Time: timestamppb.New(when), PartitionsCompared: 341, KeysExchanged: 7}},
		Digest:          []byte{0xab, 0x01},
	})
	srv.SetRepair(&quorumkvv1.RepairResponse{Peers: []string{"n2"}})
	ep := srv.Addr()

	for _, args := range [][]string{{"put", "k", "v", "-c", "one"}, {"delete", "k"}, {"sadd", "s", "a", "b"}, {"srem", "s", "b"}} {
		res := kvctl(t, ep, append([]string{"-o", "json"}, args...)...)
		obj := decode(t, res.stdout)
		if got, want := keysOf(obj), sorted("key", "receipt"); !slices.Equal(got, want) {
			t.Errorf("%s: fields = %v, want %v", args[0], got, want)
		}
		if obj["key"] != args[1] {
			t.Errorf("%s: key = %v", args[0], obj["key"])
		}
		level := "quorum"
		if args[0] == "put" {
			level = "one"
		}
		checkReceipt(t, obj["receipt"], level, "partial")
	}

	kvctl(t, ep, "put", "k", "v")
	obj := decode(t, kvctl(t, ep, "-o", "json", "get", "k", "-c", "All").stdout)
	if got, want := keysOf(obj), sorted("key", "values", "context", "receipt"); !slices.Equal(got, want) {
		t.Errorf("get: fields = %v, want %v", got, want)
	}
	if vs, _ := obj["values"].([]any); len(vs) != 1 || vs[0] != "v" {
		t.Errorf("get: values = %#v", obj["values"])
	}
	checkReceipt(t, obj["receipt"], "all", "none")

	// A missing key: exit 1, and still the object, with no values.
	res := kvctl(t, ep, "-o", "json", "get", "nope")
	obj = decode(t, res.stdout)
	if res.code != 1 || obj["context"] == "" {
		t.Errorf("get missing: exit %d, context %v", res.code, obj["context"])
	}
	if vs, ok := obj["values"].([]any); !ok || len(vs) != 0 {
		t.Errorf("get missing: values = %#v, want []", obj["values"])
	}

	obj = decode(t, kvctl(t, ep, "-o", "json", "smembers", "s").stdout)
	if got, want := keysOf(obj), sorted("key", "members", "receipt"); !slices.Equal(got, want) {
		t.Errorf("smembers: fields = %v, want %v", got, want)
	}
	if ms, _ := obj["members"].([]any); len(ms) != 1 || ms[0] != "a" {
		t.Errorf("smembers: members = %#v", obj["members"])
	}

	obj = decode(t, kvctl(t, ep, "-o", "json", "ring", "k").stdout)
	if got, want := keysOf(obj), sorted("key", "partition", "replicas", "down"); !slices.Equal(got, want) {
		t.Errorf("ring: fields = %v, want %v", got, want)
	}
	if obj["partition"] != 517.0 || len(obj["replicas"].([]any)) != 2 {
		t.Errorf("ring = %v", obj)
	}

	obj = decode(t, kvctl(t, ep, "-o", "json", "members").stdout)
	ms, _ := obj["members"].([]any)
	if len(ms) != 2 {
		t.Fatalf("members = %#v", obj["members"])
	}
	m1 := ms[1].(map[string]any)
	if got, want := keysOf(m1), sorted("id", "grpc_addr", "gossip_addr", "state", "ring_state", "ownership"); !slices.Equal(got, want) {
		t.Errorf("member fields = %v, want %v", got, want)
	}
	if m1["state"] != "dead" || m1["ring_state"] != "joining" || m1["ownership"] != 0.0 {
		t.Errorf("member = %v", m1)
	}

	obj = decode(t, kvctl(t, ep, "-o", "json", "status").stdout)
	if got, want := keysOf(obj), sorted("node_id", "joined", "members_alive", "keys", "tombstones", "hints_pending", "storage_bytes", "live_bytes", "last_anti_entropy", "digest"); !slices.Equal(got, want) {
		t.Errorf("status fields = %v, want %v", got, want)
	}
	if obj["digest"] != "0000000000000000000000000000ab01" {
		t.Errorf("digest = %v", obj["digest"])
	}
	ae := obj["last_anti_entropy"].([]any)[0].(map[string]any)
	if got, want := keysOf(ae), sorted("peer", "time", "partitions_compared", "keys_exchanged"); !slices.Equal(got, want) {
		t.Errorf("anti-entropy fields = %v, want %v", got, want)
	}
	if ae["time"] != "2026-03-04T05:06:07Z" {
		t.Errorf("time = %v", ae["time"])
	}

	obj = decode(t, kvctl(t, ep, "-o", "json", "repair").stdout)
	if got, want := keysOf(obj), sorted("peers", "failed"); !slices.Equal(got, want) {
		t.Errorf("repair fields = %v, want %v", got, want)
	}
}

func TestKvctl_statusEmptyAntiEntropy(t *testing.T) {
	srv := clienttest.Start(t, "n1")
	res := kvctl(t, srv.Addr(), "-o", "json", "status")
	if !strings.Contains(res.stdout, `"last_anti_entropy": []`) {
		t.Errorf("last_anti_entropy is not []:\n%s", res.stdout)
	}
	if !strings.Contains(res.stdout, `"digest": "00000000000000000000000000000000"`) {
		t.Errorf("digest of an empty node:\n%s", res.stdout)
	}
}

func TestKvctl_failurePrintsReceipt(t *testing.T) {
	receipt := &quorumkvv1.Receipt{
		Coordinator: "n1", Level: quorumkvv1.Consistency_CONSISTENCY_ALL, Required: 3, Acknowledged: []string{"n1"},
		Failed: []*quorumkvv1.ReplicaFailure{{Id: "n2", Reason: "unreachable"}, {Id: "n3", Reason: "unreachable"}},
	}
	tests := []struct {
		name, method string
		code         codes.Code
		args         []string
		wantCode     int
	}{
		{"get level not met", "Get", codes.Unavailable, []string{"get", "k", "-c", "all"}, 3},
		{"get other error", "Get", codes.Internal, []string{"get", "k", "-c", "all"}, 5},
		{"smembers level not met", "SetMembers", codes.Unavailable, []string{"smembers", "k", "-c", "all"}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := clienttest.Start(t, "n1")
			srv.Fail(tt.method, clienttest.StatusError(tt.code, "ALL read: 1 of 3 required answers (n2 unreachable, n3 unreachable)", receipt))

			res := kvctl(t, srv.Addr(), append([]string{"-o", "json"}, tt.args...)...)
			if res.code != tt.wantCode {
				t.Errorf("exit code = %d, want %d", res.code, tt.wantCode)
			}
			// The receipt, and no empty values (or members) list that would
			// read as a missing key.
			obj := decode(t, res.stdout)
			if got, want := keysOf(obj), sorted("key", "receipt"); !slices.Equal(got, want) {
				t.Errorf("fields = %v, want %v", got, want)
			}
			checkReceipt(t, obj["receipt"], "all", "none")

			res = kvctl(t, srv.Addr(), tt.args...) // text mode: nothing on stdout
			if res.code != tt.wantCode {
				t.Errorf("exit code = %d, want %d", res.code, tt.wantCode)
			}
			if res.stdout != "" {
				t.Errorf("text mode printed %q on stdout for a failure", res.stdout)
			}
		})
	}

	// No endpoint answered (exit 4): no receipt, nothing on stdout.
	res := kvctl(t, clienttest.DeadAddr(t), "-o", "json", "--timeout", "200ms", "get", "k")
	if res.code != 4 || res.stdout != "" {
		t.Errorf("get with no endpoint: exit %d, stdout %q; want 4 and nothing", res.code, res.stdout)
	}
}

func TestKvctl_base64Encoding(t *testing.T) {
	srv := clienttest.Start(t, "n1")
	ep := srv.Addr()
	bad := "\xff\xfe"
	kvctl(t, ep, "sadd", "s", "ok", bad)

	obj := decode(t, kvctl(t, ep, "-o", "json", "smembers", "s").stdout)
	b64 := base64.StdEncoding.EncodeToString
	if obj["encoding"] != "base64" || obj["key"] != b64([]byte("s")) {
		t.Errorf("encoding, key = %v, %v", obj["encoding"], obj["key"])
	}
	ms := obj["members"].([]any)
	if len(ms) != 2 || ms[0] != b64([]byte("ok")) || ms[1] != b64([]byte(bad)) {
		t.Errorf("members = %v", ms)
	}

	// A non-UTF-8 key alone switches too.
	kvctl(t, ep, "put", bad, "plain")
	obj = decode(t, kvctl(t, ep, "-o", "json", "get", bad).stdout)
	if obj["encoding"] != "base64" || obj["key"] != b64([]byte(bad)) || obj["values"].([]any)[0] != b64([]byte("plain")) {
		t.Errorf("get = %v", obj)
	}
	obj = decode(t, kvctl(t, ep, "-o", "json", "put", bad, "x").stdout)
	if obj["encoding"] != "base64" {
		t.Errorf("put = %v", obj)
	}

	// All UTF-8: no encoding field.
	obj = decode(t, kvctl(t, ep, "-o", "json", "get", bad+"-missing-"+"\u00e9").stdout)
	if obj["encoding"] != "base64" {
		t.Errorf("non-UTF-8 key: %v", obj)
	}
	obj = decode(t, kvctl(t, ep, "-o", "json", "get", "caf\u00e9").stdout)
	if _, ok := obj["encoding"]; ok || obj["key"] != "caf\u00e9" {
		t.Errorf("UTF-8 key: %v", obj)
	}
}

func TestKvctl_putStdin(t *testing.T) {
	srv := clienttest.Start(t, "n1")
	value := "line one\nline two\n\x00\xff"
	res := invocation{args: []string{"--endpoints", srv.Addr(), "put", "k", "-"}, stdin: value}.run(t)
	if res.code != 0 || res.stdout != "OK\n" {
		t.Fatalf("put: exit %d, stdout %q", res.code, res.stdout)
	}
	if got := string(srv.LastRequest().(*quorumkvv1.PutRequest).GetValue()); got != value {
		t.Errorf("value sent = %q, want %q", got, value)
	}
	if res := kvctl(t, srv.Addr(), "get", "k"); res.stdout != value+"\n" {
		t.Errorf("get stdout = %q, want %q", res.stdout, value+"\n")
	}
}

func TestKvctl_contextRoundTrip(t *testing.T) {
	srv := clienttest.Start(t, "n1")
	srv.Siblings = true
	ep := srv.Addr()
	kvctl(t, ep, "put", "k", "a")
	kvctl(t, ep, "put", "k", "b")

	res := kvctl(t, ep, "get", "k")
	if res.stdout != "a\nb\n" {
		t.Errorf("siblings = %q, want one per line", res.stdout)
	}
	obj := decode(t, kvctl(t, ep, "-o", "json", "get", "k").stdout)
	token, _ := obj["context"].(string)
	if strings.ContainsAny(token, "+/=") {
		t.Errorf("context %q is not unpadded base64url", token)
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		t.Fatalf("context %q: %v", token, err)
	}

	if res := kvctl(t, ep, "put", "k", "c", "--context", token); res.code != 0 {
		t.Fatalf("put --context: exit %d", res.code)
	}
	if got := srv.LastRequest().(*quorumkvv1.PutRequest).GetContext(); !bytes.Equal(got, raw) {
		t.Errorf("context sent = %x, want %x", got, raw)
	}
	if res := kvctl(t, ep, "get", "k"); res.stdout != "c\n" {
		t.Errorf("after resolving: %q", res.stdout)
	}
}

func TestKvctl_textTables(t *testing.T) {
	srv := clienttest.Start(t, "n1")
	srv.SetMemberList(
		&quorumkvv1.Member{Id: "n1", GrpcAddr: "127.0.0.1:7001", GossipAddr: "127.0.0.1:7101", State: quorumkvv1.Liveness_LIVENESS_ALIVE, RingState: quorumkvv1.RingState_RING_STATE_NORMAL, Ownership: 1.0 / 3},
		&quorumkvv1.Member{Id: "node-two", GrpcAddr: "10.0.0.2:7002", GossipAddr: "10.0.0.2:7102", State: quorumkvv1.Liveness_LIVENESS_SUSPECT, RingState: quorumkvv1.RingState_RING_STATE_LEAVING, Ownership: 2.0 / 3},
	)
	want := "" +
		"ID        GRPC_ADDR       GOSSIP_ADDR     STATE    RING_STATE  OWNERSHIP\n" +
		"n1        127.0.0.1:7001  127.0.0.1:7101  alive    normal      33.3%\n" +
		"node-two  10.0.0.2:7002   10.0.0.2:7102   suspect  leaving     66.7%\n"
	if res := kvctl(t, srv.Addr(), "members"); res.stdout != want {
		t.Errorf("members:\n%s\nwant:\n%s", res.stdout, want)
	}

	srv.SetStatus(&quorumkvv1.StatusResponse{NodeId: "n1", Joined: true, MembersAlive: 3, Keys: 12, StorageBytes: 32768, LiveBytes: 20480})
	want = "" +
		"node_id            n1\n" +
		"joined             true\n" +
		"members_alive      3\n" +
		"keys               12\n" +
		"tombstones         0\n" +
		"hints_pending      0\n" +
		"storage_bytes      32768\n" +
		"live_bytes         20480\n" +
		"digest             00000000000000000000000000000000\n" +
		"last_anti_entropy  never\n"
	if res := kvctl(t, srv.Addr(), "status"); res.stdout != want {
		t.Errorf("status:\n%s\nwant:\n%s", res.stdout, want)
	}

	when := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	srv.SetStatus(&quorumkvv1.StatusResponse{NodeId: "n1", LastAntiEntropy: []*quorumkvv1.AntiEntropyRound{
		{Peer: "n2", Time: timestamppb.New(when), PartitionsCompared: 341, KeysExchanged: 7},
		{Peer: "node-three", Time: timestamppb.New(when.Add(time.Second)), PartitionsCompared: 12},
	}})
	want = "" +
		"\n" +
		"PEER        LAST_ANTI_ENTROPY     PARTITIONS_COMPARED  KEYS_EXCHANGED\n" +
		"n2          2026-03-04T05:06:07Z  341                  7\n" +
		"node-three  2026-03-04T05:06:08Z  12                   0\n"
	if res := kvctl(t, srv.Addr(), "status"); !strings.HasSuffix(res.stdout, want) || strings.Contains(res.stdout, "never") {
		t.Errorf("status with anti-entropy rounds:\n%s\nwant it to end with:\n%s", res.stdout, want)
	}
}

func TestDigestHex(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "00000000000000000000000000000000"},
		{"full", bytes.Repeat([]byte{0xab}, 16), strings.Repeat("ab", 16)},
		{"short", []byte{1}, "00000000000000000000000000000001"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := digestHex(tt.in); got != tt.want {
				t.Errorf("digestHex = %s, want %s", got, tt.want)
			}
		})
	}
}
