// Package testkit holds helpers shared by the tests of several packages:
// free loopback addresses claimed across test processes, and a log
// destination a test reads while goroutines write to it. Only tests import
// it.
package testkit

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
)

// Test ports are drawn from [portLow, portHigh): below the kernel's
// ephemeral range (32768 and up here), where a client socket (of a test,
// of a node, of another process) could be given a port between its check
// and its bind, and below the 27000s the cluster scripts and benchmarks
// take by default.
const (
	portLow  = 20000
	portHigh = 27000
)

// ClaimPorts claims every one of ports for the rest of the test, for TCP
// and UDP (memberlist takes both), or none of them: it reports false when
// one is bound now or claimed by another test, in this process or another
// (go test runs packages in parallel). A claim is an exclusive flock on a
// file named after the port in a directory of the temp dir; the kernel
// releases it when the test ends or its process dies, so a crashed run
// leaves nothing claimed.
func ClaimPorts(t testing.TB, ports ...int) bool {
	t.Helper()
	dir := filepath.Join(os.TempDir(), "quorumkv-test-ports")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		t.Fatalf("test port claims: %v", err)
	}
	var held []*os.File
	release := func() {
		for _, f := range held {
			_ = f.Close() // closing the file releases its lock
		}
	}
	for _, port := range ports {
		f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(port)), os.O_CREATE|os.O_RDONLY, 0o666) // flock needs no write access
		if err != nil {
			release()
			t.Fatalf("test port claims: %v", err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			_ = f.Close()
			release()
			return false
		}
		held = append(held, f)
		if !bindable(port) {
			release()
			return false
		}
	}
	t.Cleanup(release)
	return true
}

// bindable reports whether port can be bound on loopback now, for TCP and
// UDP.
func bindable(port int) bool {
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	pc, err := net.ListenPacket("udp", addr)
	_ = l.Close()
	if err != nil {
		return false
	}
	_ = pc.Close()
	return true
}

// FreeAddr returns a loopback address whose port is free for TCP and UDP
// and claimed for the rest of the test (ClaimPorts), so no other test
// running meanwhile is handed it before the node that is to take it binds
// it.
func FreeAddr(t testing.TB) string {
	t.Helper()
	for range 1000 {
		port := portLow + rand.IntN(portHigh-portLow)
		if ClaimPorts(t, port) {
			return fmt.Sprintf("127.0.0.1:%d", port)
		}
	}
	t.Fatal("no free port")
	return ""
}

// LogBuffer is a log destination that several goroutines write to while a
// test reads it. The zero value is ready to use.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
