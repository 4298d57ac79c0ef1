// Package testkit holds helpers shared by the tests of several packages:
// free loopback addresses, and a log destination a test reads while
// goroutines write to it. Only tests import it.
package testkit

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
)

// FreeAddr returns a loopback address with a port free, for TCP and UDP
// (memberlist takes both), at the time of the call. The port is drawn
// below the kernel's ephemeral range (32768 and up here) and below the
// 27000s the cluster scripts and benchmarks take: a port the kernel handed
// out is free again once closed, and a client socket (of a test, of a
// node, of another process) may be given it before the node binds it.
func FreeAddr(t testing.TB) string {
	t.Helper()
	for range 1000 {
		addr := fmt.Sprintf("127.0.0.1:%d", 20000+rand.IntN(7000))
		l, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		pc, err := net.ListenPacket("udp", addr)
		_ = l.Close()
		if err != nil {
			continue
		}
		_ = pc.Close()
		return addr
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
