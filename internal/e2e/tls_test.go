package e2e

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/quorumkv/quorumkv/internal/testkit"
	pb "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
	"github.com/quorumkv/quorumkv/security"
)

// tlsCluster is two kvnode processes with mutual TLS and
// --replication-factor 1, so every key lives on one of them and a request
// sent to the other is forwarded.
type tlsCluster struct {
	t     *testing.T
	certs string
	nodes [2]*nodeProc
	peers [2]string // the nodes' --peer-addr
}

// certs runs kvctl certs with args, which must succeed.
func certs(t *testing.T, args ...string) {
	t.Helper()
	r := kvctl(t, "127.0.0.1:1", nil, append([]string{"certs"}, args...)...)
	if r.code != 0 {
		t.Fatalf("kvctl certs %v: %v", args, r)
	}
}

func startTLSCluster(t *testing.T) *tlsCluster {
	t.Helper()
	c := &tlsCluster{t: t, certs: filepath.Join(t.TempDir(), "certs")}
	certs(t, "create-ca", "--dir", c.certs)
	certs(t, "create-gossip-key", "--dir", c.certs)
	for _, id := range []string{"n1", "n2"} {
		certs(t, "create-node", id, "--host", "127.0.0.1,localhost", "--dir", c.certs)
	}
	for _, role := range []string{"read", "write", "admin"} {
		certs(t, "create-client", role, "--role", role, "--dir", c.certs)
	}
	gossip1 := testkit.FreeAddr(t)
	for i, id := range []string{"n1", "n2"} {
		c.peers[i] = testkit.FreeAddr(t)
		args := []string{"--node-id", id, "--replication-factor", "1", "--peer-addr", c.peers[i],
			"--tls-cert", filepath.Join(c.certs, security.NodeCertFile(id)),
			"--tls-key", filepath.Join(c.certs, security.NodeKeyFile(id)),
			"--tls-ca", filepath.Join(c.certs, security.CACertFile),
			"--gossip-key-file", filepath.Join(c.certs, security.GossipKeyFile)}
		if i == 0 {
			args = append(args, "--gossip-addr", gossip1)
		} else {
			args = append(args, "--join", gossip1)
		}
		c.nodes[i] = startNode(t, nodeOpts{args: args})
	}
	eventually(t, 30*time.Second, "both nodes alive and normal on both", func() bool {
		for i := range c.nodes {
			r := c.ctl(i, "admin", "-o", "json", "members")
			var out struct{ Members []member }
			if r.code != 0 || json.Unmarshal([]byte(r.stdout), &out) != nil || len(out.Members) != 2 {
				return false
			}
			for _, m := range out.Members {
				if m.State != "alive" || m.RingState != "normal" {
					return false
				}
			}
		}
		return true
	})
	return c
}

// tlsArgs are kvctl's flags for client certificate name (none when empty).
func (c *tlsCluster) tlsArgs(name string) []string {
	if name == "" {
		return nil
	}
	return []string{"--cacert", filepath.Join(c.certs, security.CACertFile),
		"--cert", filepath.Join(c.certs, security.ClientCertFile(name)),
		"--key", filepath.Join(c.certs, security.ClientKeyFile(name))}
}

// ctl runs kvctl against node i with client certificate name.
func (c *tlsCluster) ctl(i int, name string, args ...string) result {
	c.t.Helper()
	return kvctl(c.t, c.nodes[i].grpc, nil, append(c.tlsArgs(name), args...)...)
}

// keyOn returns a key whose one replica is node id.
func (c *tlsCluster) keyOn(id string) string {
	c.t.Helper()
	for i := 0; i < 1000; i++ {
		k := fmt.Sprintf("key-%d", i)
		r := c.ctl(0, "read", "-o", "json", "ring", k)
		if r.code != 0 {
			c.t.Fatalf("ring %s: %v", k, r)
		}
		var out struct{ Replicas []string }
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
			c.t.Fatal(err)
		}
		if len(out.Replicas) == 1 && out.Replicas[0] == id {
			return k
		}
	}
	c.t.Fatalf("no key on %s", id)
	return ""
}

// dial connects to node i with the certificate and key files of c.certs;
// the connection is closed when the test ends.
func (c *tlsCluster) dial(t *testing.T, cert, key, addr string) *grpc.ClientConn {
	t.Helper()
	cfg, err := security.ClientConfig(filepath.Join(c.certs, security.CACertFile), filepath.Join(c.certs, cert), filepath.Join(c.certs, key))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func TestTLS_rolesAndRefusals(t *testing.T) {
	c := startTLSCluster(t)
	remote := c.keyOn("n2") // sent to n1, forwarded to n2

	t.Run("refused certificates", func(t *testing.T) {
		other := filepath.Join(t.TempDir(), "other")
		if err := security.CreateCA(other, security.CertOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := security.CreateClient(other, "admin", security.RoleAdmin, security.CertOptions{}); err != nil {
			t.Fatal(err)
		}
		past := func() time.Time { return time.Now().Add(-48 * time.Hour) }
		if err := security.CreateClient(c.certs, "expired", security.RoleAdmin, security.CertOptions{Now: past, Lifetime: time.Hour}); err != nil {
			t.Fatal(err)
		}
		ca := filepath.Join(c.certs, security.CACertFile)
		for name, args := range map[string][]string{
			"no TLS at all":       nil,
			"no certificate":      {"--cacert", ca},
			"another CA's client": {"--cacert", ca, "--cert", filepath.Join(other, "client-admin.crt"), "--key", filepath.Join(other, "client-admin.key")},
			"another CA's server": {"--cacert", filepath.Join(other, security.CACertFile), "--cert", filepath.Join(other, "client-admin.crt"), "--key", filepath.Join(other, "client-admin.key")},
			"expired":             c.tlsArgs("expired"),
		} {
			t.Run(name, func(t *testing.T) {
				r := kvctl(t, c.nodes[0].grpc, nil, append(args, "--timeout", "1s", "get", remote)...)
				if args == nil { // plain: no answer, with a hint
					checkResult(t, r, 4, []string{"a node with TLS on closes plain connections"}, args)
				} else {
					checkResult(t, r, 6, []string{c.nodes[0].grpc}, args)
				}
				t.Logf("%s: exit %d: %s", name, r.code, strings.TrimSpace(r.stderr))
			})
		}
	})

	t.Run("read cannot write, also through a forwarding node", func(t *testing.T) {
		for i := range c.nodes {
			r := c.ctl(i, "read", "put", remote, "v")
			checkResult(t, r, 6, []string{"put needs the write role; this certificate has read"}, []string{"put", remote})
			r = c.ctl(i, "read", "sadd", "s-"+remote, "m")
			checkResult(t, r, 6, []string{"sadd needs the write role; this certificate has read"}, []string{"sadd"})
		}
		// Reads and writes that n1 forwards to n2 run with the client's
		// identity on n2.
		if r := c.ctl(0, "write", "put", remote, "v1"); r.code != 0 {
			t.Fatalf("write put through n1: %v", r)
		}
		if r := c.ctl(0, "read", "get", remote); r.code != 0 || r.stdout != "v1\n" {
			t.Fatalf("read get through n1: %v", r)
		}
	})

	t.Run("a forwarded request is judged by the client's role", func(t *testing.T) {
		conn := c.dial(t, security.NodeCertFile("n1"), security.NodeKeyFile("n1"), c.peers[1])
		kv := pb.NewKVClient(conn)
		for name, tc := range map[string]struct {
			md   []string
			code codes.Code
			want string
		}{
			"read client via n1": {[]string{security.ForwardedByHeader, "n1", security.ForwardedIdentityHeader, "quorumkv://client/read?role=read"},
				codes.PermissionDenied, "put needs the write role; this certificate has read (forwarded by node n1)"},
			"write client via n1": {[]string{security.ForwardedByHeader, "n1", security.ForwardedIdentityHeader, "quorumkv://client/write?role=write"},
				codes.OK, ""},
			"n1 claiming to be n2": {[]string{security.ForwardedByHeader, "n2", security.ForwardedIdentityHeader, "quorumkv://client/write?role=write"},
				codes.PermissionDenied, "the certificate of node n1 cannot speak for node n2"},
		} {
			t.Run(name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(context.Background(), tc.md...), 5*time.Second)
				defer cancel()
				_, err := kv.Put(ctx, &pb.PutRequest{Key: []byte(remote), Value: []byte("v2")})
				if st := status.Convert(err); st.Code() != tc.code || !strings.Contains(st.Message(), tc.want) {
					t.Fatalf("got %v %q, want %v %q", st.Code(), st.Message(), tc.code, tc.want)
				}
			})
		}
	})

	t.Run("write cannot repair, admin can and is audited", func(t *testing.T) {
		r := c.ctl(0, "write", "repair")
		checkResult(t, r, 6, []string{"repair needs the admin role; this certificate has write"}, []string{"repair"})
		if r := c.ctl(0, "admin", "repair", "--wait"); r.code != 0 {
			t.Fatalf("admin repair: %v", r)
		}
		eventually(t, 5*time.Second, "audit line", func() bool {
			return strings.Contains(c.nodes[0].stderr.String(), "msg=audit identity=\"client admin (admin)\" command=repair target=n1")
		})
	})

	t.Run("the client listener serves no replica service", func(t *testing.T) {
		conn := c.dial(t, security.NodeCertFile("n1"), security.NodeKeyFile("n1"), c.nodes[1].grpc)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := pb.NewReplicaClient(conn).MerkleRoots(ctx, &pb.MerkleRootsRequest{}); status.Code(err) != codes.Unimplemented {
			t.Fatalf("MerkleRoots on the client listener: %v, want Unimplemented", err)
		}
	})

	t.Run("HandOffAck answers for the certificate's node only", func(t *testing.T) {
		conn := c.dial(t, security.NodeCertFile("n1"), security.NodeKeyFile("n1"), c.peers[1])
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := pb.NewReplicaClient(conn).HandOffAck(ctx, &pb.HandOffAckRequest{NodeId: "n1", Partitions: []uint32{0}}); err != nil {
			t.Fatalf("HandOffAck as n1: %v", err)
		}
		_, err := pb.NewReplicaClient(conn).HandOffAck(ctx, &pb.HandOffAckRequest{NodeId: "n2", Partitions: []uint32{0}})
		if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "cannot speak for node n2") {
			t.Fatalf("HandOffAck for n2 with n1's certificate: %v, want PermissionDenied", err)
		}
	})

	t.Run("the peer listener needs a node certificate", func(t *testing.T) {
		for name, tc := range map[string]struct {
			cert, key string
			denied    bool
		}{
			"admin client": {security.ClientCertFile("admin"), security.ClientKeyFile("admin"), true},
			"node n1":      {security.NodeCertFile("n1"), security.NodeKeyFile("n1"), false},
		} {
			t.Run(name, func(t *testing.T) {
				conn := c.dial(t, tc.cert, tc.key, c.peers[1])
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_, err := pb.NewReplicaClient(conn).MerkleRoots(ctx, &pb.MerkleRootsRequest{})
				code := status.Code(err)
				if denied := code == codes.PermissionDenied; denied != tc.denied {
					t.Fatalf("MerkleRoots as %s: %v, want denied %v", name, err, tc.denied)
				}
				if tc.denied && !strings.Contains(err.Error(), "not a node certificate") {
					t.Fatalf("message %q does not say a node certificate is needed", err)
				}
				if tc.denied { // the client API too, whatever the client's role
					_, err := pb.NewKVClient(conn).Members(ctx, &pb.MembersRequest{})
					if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "not a node certificate") {
						t.Fatalf("Members on the peer listener as %s: %v, want PermissionDenied", name, err)
					}
				}
				if code == codes.Unauthenticated || code == codes.Unavailable {
					t.Fatalf("MerkleRoots as %s: %v", name, err)
				}
			})
		}
	})
}

func TestTLS_certificateReloadedWithoutRestart(t *testing.T) {
	c := startTLSCluster(t)
	served := func() string {
		t.Helper()
		cfg, err := security.ClientConfig(filepath.Join(c.certs, security.CACertFile),
			filepath.Join(c.certs, security.ClientCertFile("read")), filepath.Join(c.certs, security.ClientKeyFile("read")))
		if err != nil {
			t.Fatal(err)
		}
		cfg.NextProtos = []string{"h2"}
		conn, err := tls.Dial("tcp", c.nodes[0].grpc, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	before := served()
	for _, f := range []string{security.NodeCertFile("n1"), security.NodeKeyFile("n1")} {
		if err := os.Remove(filepath.Join(c.certs, f)); err != nil {
			t.Fatal(err)
		}
	}
	certs(t, "create-node", "n1", "--host", "127.0.0.1,localhost", "--dir", c.certs)
	if after := served(); after == before {
		t.Fatalf("n1 still serves certificate %s after it was renewed on disk", before)
	}
	if r := c.ctl(0, "write", "put", "after-renewal", "v"); r.code != 0 {
		t.Fatalf("put after renewal: %v", r)
	}
	eventually(t, 5*time.Second, "reload logged", func() bool {
		return strings.Contains(c.nodes[0].stderr.String(), "TLS certificate reloaded")
	})
}

// TestTLS_makeCluster starts a cluster as make cluster does, with TLS (the
// default), and uses it through the lines make cluster-env prints.
func TestTLS_makeCluster(t *testing.T) {
	c := launchWith(t, "1", 2)
	for _, f := range []string{"ca.crt", "ca.key", "gossip.key", "node-n1.crt", "node-n2.key", "client-admin.crt", "client-admin.key"} {
		if _, err := os.Stat(filepath.Join(c.dir, "certs", f)); err != nil {
			t.Fatalf("make cluster made no %s: %v", f, err)
		}
	}
	env := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(c.script("env")), "\n") {
		for _, kv := range strings.Fields(strings.TrimPrefix(line, "export ")) {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
	}
	for _, k := range []string{"KVCTL_ENDPOINTS", "KVCTL_CACERT", "KVCTL_CERT", "KVCTL_KEY"} {
		if env[k] == "" {
			t.Fatalf("cluster-env sets no %s: %v", k, env)
		}
	}
	run := func(withEnv bool, args ...string) result {
		cmd := exec.Command(bins.kvctl, args...)
		cmd.Env = append(os.Environ(), "KVCTL_ENDPOINTS="+env["KVCTL_ENDPOINTS"], "KVCTL_CACERT=", "KVCTL_CERT=", "KVCTL_KEY=")
		if withEnv {
			for k, v := range env {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
		}
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		r := result{stdout: out.String(), stderr: errb.String()}
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			r.code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := run(true, "put", "greeting", "hello"); r.code != 0 {
		t.Fatalf("put with the cluster-env lines: %v", r)
	}
	if r := run(true, "get", "greeting"); r.code != 0 || r.stdout != "hello\n" {
		t.Fatalf("get: %v", r)
	}
	if r := run(false, "--timeout", "1s", "get", "greeting"); r.code != 4 {
		t.Fatalf("get without certificates: want exit 4, got %v", r)
	}
	// A second start finds the certificates and the nodes as they are.
	if out := c.script("start"); !strings.Contains(out, "found running") {
		t.Fatalf("second start: %s", out)
	}
}

func TestTLS_kvnodeRefusals(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	certs(t, "create-ca", "--dir", dir)
	certs(t, "create-gossip-key", "--dir", dir)
	certs(t, "create-node", "n2", "--host", "127.0.0.1", "--dir", dir)
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"another node's certificate": {[]string{"--tls-cert", filepath.Join(dir, "node-n2.crt"), "--tls-key", filepath.Join(dir, "node-n2.key"),
			"--tls-ca", filepath.Join(dir, "ca.crt"), "--gossip-key-file", filepath.Join(dir, "gossip.key")},
			"--tls-cert: " + filepath.Join(dir, "node-n2.crt") + " is the certificate of node n2, not of node n1"},
		"plain on every address": {[]string{"--grpc-addr", "0.0.0.0:0"}, "--insecure: --grpc-addr 0.0.0.0:0 is not a loopback address"},
	} {
		t.Run(name, func(t *testing.T) {
			p := spawn(t, nodeOpts{args: tc.args})
			if code := p.exitCode(20 * time.Second); code != 2 || !strings.Contains(p.stderr.String(), tc.want) {
				t.Fatalf("exit %d, want 2 and %q in:\n%s", code, tc.want, p.stderr)
			}
		})
	}
}
