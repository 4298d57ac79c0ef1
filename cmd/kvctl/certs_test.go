package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCerts_createAll(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	env := map[string]string{"KVCTL_ENDPOINTS": "not an endpoint"} // certs needs none
	for _, args := range [][]string{
		{"certs", "create-ca", "--dir", dir},
		{"certs", "create-node", "n1", "--host", "127.0.0.1,localhost", "--dir", dir},
		{"certs", "create-client", "alice", "--role", "write", "--dir", dir},
		{"certs", "create-gossip-key", "--dir", dir},
	} {
		if r := (invocation{args: args, env: env}).run(t); r.code != 0 || !strings.HasPrefix(r.stdout, "wrote ") {
			t.Fatalf("kvctl %q: %+v", args, r)
		}
	}
	for name, mode := range map[string]os.FileMode{
		"ca.crt": 0o644, "ca.key": 0o600, "node-n1.crt": 0o644, "node-n1.key": 0o600,
		"client-alice.crt": 0o644, "client-alice.key": 0o600, "gossip.key": 0o600,
	} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v", name, st.Mode().Perm(), mode)
		}
	}
}

func TestCerts_errors(t *testing.T) {
	dir := t.TempDir()
	if r := (invocation{args: []string{"certs", "create-ca", "--dir", dir}}).run(t); r.code != 0 {
		t.Fatalf("create-ca: %+v", r)
	}
	for name, tc := range map[string]struct {
		args []string
		code int
		want string
	}{
		"overwrite":      {[]string{"certs", "create-ca", "--dir", dir}, 2, filepath.Join(dir, "ca.crt") + " exists already"},
		"no dir":         {[]string{"certs", "create-ca"}, 2, "--dir is required"},
		"no host":        {[]string{"certs", "create-node", "n1", "--dir", dir}, 2, "--host is required"},
		"bad node id":    {[]string{"certs", "create-node", "a/b", "--host", "h", "--dir", dir}, 2, "is not a name"},
		"bad role":       {[]string{"certs", "create-client", "bob", "--role", "root", "--dir", dir}, 2, `"root" is not a client role`},
		"no role":        {[]string{"certs", "create-client", "bob", "--dir", dir}, 2, "--role is required"},
		"no CA":          {[]string{"certs", "create-client", "bob", "--role", "read", "--dir", t.TempDir()}, 5, "create-ca"},
		"cert needs key": {[]string{"--cacert", "x", "--cert", "y", "get", "k"}, 2, "--cert and --key go together"},
		"cert needs ca":  {[]string{"--cert", "y", "--key", "z", "get", "k"}, 2, "--cert needs --cacert"},
		"unreadable ca":  {[]string{"--cacert", filepath.Join(dir, "missing.crt"), "get", "k"}, 2, "missing.crt"},
	} {
		t.Run(name, func(t *testing.T) {
			r := (invocation{args: tc.args}).run(t)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("got %+v, want exit %d and %q", r, tc.code, tc.want)
			}
		})
	}
}
