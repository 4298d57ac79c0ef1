package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/quorumkv/quorumkv/client/clienttest"
	quorumkvv1 "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
)

func TestKvctl_exitCodes(t *testing.T) {
	quorumReceipt := &quorumkvv1.Receipt{
		Coordinator: "n1", Level: quorumkvv1.Consistency_CONSISTENCY_QUORUM, Required: 2,
		Acknowledged: []string{"n1"}, Failed: []*quorumkvv1.ReplicaFailure{{Id: "n2", Reason: "unreachable"}},
		Applied: quorumkvv1.Applied_APPLIED_PARTIAL, HintsWritten: 1,
	}
	tests := []struct {
		name       string
		setup      func(s *clienttest.Server)
		args       []string
		wantCode   int
		wantStderr string // the whole line, without "error: " and "\n"; "" = don't check
		wantStdout string // "" = must be empty; "*" = don't check
	}{
		{name: "put", args: []string{"put", "k", "v"}, wantCode: 0, wantStdout: "OK\n"},
		{name: "get missing key", args: []string{"get", "nope"}, wantCode: 1, wantStderr: `key "nope" not found`},
		{name: "delete missing key", args: []string{"delete", "nope"}, wantCode: 0, wantStdout: "OK\n"},
		{name: "smembers missing key", args: []string{"smembers", "nope"}, wantCode: 0},
		{
			name: "key too large",
			setup: func(s *clienttest.Server) {
				s.Fail("Put", clienttest.StatusError(codes.InvalidArgument, "key too large: key is 1025 bytes, the limit is 1024 bytes (--max-key-bytes)", nil))
			},
			args: []string{"put", "k", "v"}, wantCode: 2,
			wantStderr: "key too large: key is 1025 bytes, the limit is 1024 bytes (--max-key-bytes)",
		},
		{
			name: "wrong type",
			setup: func(s *clienttest.Server) {
				_, _ = s.Put(context.Background(), &quorumkvv1.PutRequest{Key: []byte("r"), Value: []byte("v")})
			},
			args: []string{"sadd", "r", "m"}, wantCode: 2, wantStderr: "key holds a register", wantStdout: "*",
		},
		{
			name: "level not met",
			setup: func(s *clienttest.Server) {
				s.Fail("Put", clienttest.StatusError(codes.Unavailable, "QUORUM write: 1 of 2 required acknowledgements (n2 unreachable); applied on n1", quorumReceipt))
			},
			args: []string{"put", "k", "v"}, wantCode: 3,
			wantStderr: "QUORUM write: 1 of 2 required acknowledgements (n2 unreachable); applied on n1",
			wantStdout: "*",
		},
		{
			name: "not joined",
			setup: func(s *clienttest.Server) {
				s.Fail("Get", clienttest.StatusError(codes.Unavailable, "not joined", quorumReceipt))
			},
			args: []string{"get", "k"}, wantCode: 3, wantStderr: "not joined", wantStdout: "*",
		},
		{
			name: "not permitted",
			setup: func(s *clienttest.Server) {
				s.Fail("Put", clienttest.StatusError(codes.PermissionDenied, "role read may not write", nil))
			},
			args: []string{"put", "k", "v"}, wantCode: 6, wantStderr: "role read may not write",
		},
		{
			name: "unauthenticated",
			setup: func(s *clienttest.Server) {
				s.Fail("Get", clienttest.StatusError(codes.Unauthenticated, "no client certificate", nil))
			},
			args: []string{"get", "k"}, wantCode: 6, wantStderr: "no client certificate",
		},
		{
			name: "unavailable without receipt",
			setup: func(s *clienttest.Server) {
				s.Fail("Get", clienttest.StatusError(codes.Unavailable, "shutting down", nil))
			},
			args: []string{"get", "k"}, wantCode: 4,
		},
		{
			name: "unimplemented",
			setup: func(s *clienttest.Server) {
				s.Fail("Repair", clienttest.StatusError(codes.Unimplemented, "repair is not built yet", nil))
			},
			args: []string{"repair"}, wantCode: 5, wantStderr: "repair is not built yet",
		},
		{
			name: "remove unknown node",
			setup: func(s *clienttest.Server) {
				s.Fail("Remove", clienttest.StatusError(codes.NotFound, "unknown node n9", nil))
			},
			args: []string{"remove", "n9"}, wantCode: 2, wantStderr: "unknown node n9",
		},
		{
			name: "leave refused",
			setup: func(s *clienttest.Server) {
				s.Fail("Leave", clienttest.StatusError(codes.FailedPrecondition, "leaving would leave 2 normal nodes, fewer than the replication factor 3: use --force", nil))
			},
			args: []string{"leave"}, wantCode: 2,
		},
		{
			name: "repair with an unreachable peer",
			setup: func(s *clienttest.Server) {
				s.SetRepair(&quorumkvv1.RepairResponse{Peers: []string{"n2"}, Failed: []*quorumkvv1.ReplicaFailure{{Id: "n3", Reason: "unreachable"}}})
			},
			args: []string{"repair", "--wait"}, wantCode: 3, wantStderr: "repair: failed with 1 of 2 peers (n3: unreachable)",
		},
		{
			// As kvnode answers: every peer in peers, the failed ones too.
			name: "repair with failed peers also listed as peers",
			setup: func(s *clienttest.Server) {
				s.SetRepair(&quorumkvv1.RepairResponse{Peers: []string{"n2", "n3", "n4"}, Failed: []*quorumkvv1.ReplicaFailure{
					{Id: "n3", Reason: "anti-entropy with n3: rpc error: code = Unavailable desc = connection refused"},
					{Id: "n4", Reason: "anti-entropy with n4: anti-entropy is disabled"},
				}})
			},
			args: []string{"repair", "--wait"}, wantCode: 3,
			wantStderr: "repair: failed with 2 of 3 peers (n3: anti-entropy with n3: rpc error: code = Unavailable desc = connection refused; n4: anti-entropy with n4: anti-entropy is disabled)",
		},
		{name: "unknown level", args: []string{"get", "k", "-c", "Two"}, wantCode: 2, wantStderr: `unknown consistency level "Two": use one, quorum or all`},
		{name: "level in any case", args: []string{"get", "k", "-c", "ALL"}, wantCode: 1},
		{name: "bad context token", args: []string{"put", "k", "v", "--context", "a+b/"}, wantCode: 2},
		{name: "missing argument", args: []string{"put", "k"}, wantCode: 2, wantStderr: "kvctl put: expected KEY VALUE, got 1 argument (see kvctl put --help)"},
		{name: "too many arguments", args: []string{"get", "a", "b"}, wantCode: 2},
		{name: "sadd without members", args: []string{"sadd", "s"}, wantCode: 2},
		{name: "unknown flag", args: []string{"get", "k", "--bogus"}, wantCode: 2, wantStderr: "unknown flag: --bogus (see kvctl get --help)"},
		{name: "unknown command", args: []string{"gett", "k"}, wantCode: 2, wantStderr: `unknown command "gett" for "kvctl"; did you mean get? (see kvctl --help)`},
		{name: "unknown command, nothing near", args: []string{"frobnicate"}, wantCode: 2, wantStderr: `unknown command "frobnicate" for "kvctl" (see kvctl --help)`},
		{name: "unknown command, two near", args: []string{"remov"}, wantCode: 2, wantStderr: `unknown command "remov" for "kvctl"; did you mean remove? (see kvctl --help)`},
		{name: "bad output format", args: []string{"-o", "yaml", "status"}, wantCode: 2, wantStderr: `-o: unknown output format "yaml": use text or json`},
		{name: "bad timeout", args: []string{"--timeout", "-1s", "status"}, wantCode: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := clienttest.Start(t, "n1")
			if tt.setup != nil {
				tt.setup(srv)
			}
			res := kvctl(t, srv.Addr(), tt.args...)
			if res.code != tt.wantCode {
				t.Errorf("exit code = %d, want %d", res.code, tt.wantCode)
			}
			if tt.wantStderr != "" && res.stderr != "error: "+tt.wantStderr+"\n" {
				t.Errorf("stderr = %q, want %q", res.stderr, "error: "+tt.wantStderr+"\n")
			}
			if tt.wantStdout != "*" && res.stdout != tt.wantStdout {
				t.Errorf("stdout = %q, want %q", res.stdout, tt.wantStdout)
			}
		})
	}
}

func TestKvctl_malformedEndpoints(t *testing.T) {
	srv := clienttest.Start(t, "n1")
	tests := []struct {
		name, endpoints, env, want string
	}{
		{"port only", "43001", "", `--endpoints: "43001" is not host:port: want host:port, e.g. 127.0.0.1:7001`},
		{"scheme", "http://127.0.0.1:7001", "", `--endpoints: "http://127.0.0.1:7001" has a scheme: want host:port`},
		{"empty host", ":7001", "", `--endpoints: ":7001" has no host: want host:port`},
		{"bad port", "127.0.0.1:99999", "", `--endpoints: "127.0.0.1:99999" has a bad port "99999": want host:port`},
		{"bad second entry", srv.Addr() + ",localhost", "", `--endpoints: "localhost" is not host:port`},
		{"from the environment", "", "43001", `--endpoints: "43001" is not host:port: want host:port, e.g. 127.0.0.1:7001 (from $KVCTL_ENDPOINTS)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"get", "k"}
			if tt.endpoints != "" {
				args = append([]string{"--endpoints", tt.endpoints}, args...)
			}
			res := invocation{args: args, env: map[string]string{endpointsEnv: tt.env}}.run(t)
			if res.code != 2 {
				t.Errorf("exit code = %d, want 2 (bad usage)", res.code)
			}
			if !strings.HasPrefix(res.stderr, "error: "+tt.want) {
				t.Errorf("stderr = %q, want it to start with %q", res.stderr, "error: "+tt.want)
			}
		})
	}
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("a command with a malformed endpoint sent %d requests, want none", n)
	}
}

func TestKvctl_noEndpointAnswers(t *testing.T) {
	dead, hole := clienttest.DeadAddr(t), clienttest.Blackhole(t)
	start := time.Now()
	res := kvctl(t, dead+","+hole, "--timeout", "150ms", "get", "k")
	if res.code != 4 {
		t.Errorf("exit code = %d, want 4", res.code)
	}
	if !strings.HasPrefix(res.stderr, "error: no endpoint answered in time") {
		t.Errorf("stderr = %q", res.stderr)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s", d)
	}
}

func TestKvctl_failover(t *testing.T) {
	srv := clienttest.Start(t, "n2")
	res := kvctl(t, clienttest.DeadAddr(t)+", "+srv.Addr(), "put", "k", "v")
	if res.code != 0 {
		t.Fatalf("exit code = %d, want 0", res.code)
	}
	if len(srv.Requests()) != 1 {
		t.Errorf("second endpoint got %d requests, want 1", len(srv.Requests()))
	}
}

func TestKvctl_leaveOnlyFirstEndpoint(t *testing.T) {
	srv := clienttest.Start(t, "n2")
	res := kvctl(t, clienttest.DeadAddr(t)+","+srv.Addr(), "leave")
	if res.code != 4 {
		t.Errorf("exit code = %d, want 4", res.code)
	}
	if len(srv.Requests()) != 0 {
		t.Errorf("second endpoint got %d requests, want 0", len(srv.Requests()))
	}
}

func TestKvctl_endpointsDefault(t *testing.T) {
	fromEnv, fromFlag := clienttest.Start(t, "env"), clienttest.Start(t, "flag")
	env := map[string]string{endpointsEnv: fromEnv.Addr()}

	res := invocation{args: []string{"put", "k", "v"}, env: env}.run(t)
	if res.code != 0 || len(fromEnv.Requests()) != 1 {
		t.Errorf("with $%s: exit %d, %d requests at its endpoint", endpointsEnv, res.code, len(fromEnv.Requests()))
	}
	res = invocation{args: []string{"--endpoints", fromFlag.Addr(), "put", "k", "v"}, env: env}.run(t)
	if res.code != 0 || len(fromFlag.Requests()) != 1 || len(fromEnv.Requests()) != 1 {
		t.Errorf("--endpoints does not override $%s: exit %d", endpointsEnv, res.code)
	}
}

func TestGlobalOptions_endpointList(t *testing.T) {
	tests := []struct {
		name, flag, env string
		want            string
	}{
		{"default", "", "", defaultEndpoint},
		{"env", "", "a:1, b:2", "a:1,b:2"},
		{"flag wins", "c:3,,d:4", "a:1", "c:3,d:4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &globalOptions{endpoints: tt.flag, env: env{getenv: func(string) string { return tt.env }}}
			if got := strings.Join(g.endpointList(), ","); got != tt.want {
				t.Errorf("endpointList() = %q, want %q", got, tt.want)
			}
		})
	}
}
