package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// spawner starts processes from one OS thread that it keeps for its whole
// life. Pdeathsig fires when the thread that started a child exits, not
// the process; a thread the Go runtime could retire would take the nodes
// with it. With every node started from this one locked thread, the nodes
// die exactly when the harness does (or when Close ends the thread, after
// the nodes were stopped).
type spawner struct {
	reqs chan spawnReq
	done chan struct{}
	once sync.Once
}

type spawnReq struct {
	cmd *exec.Cmd
	err chan error
}

func newSpawner() *spawner {
	s := &spawner{reqs: make(chan spawnReq), done: make(chan struct{})}
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		defer close(s.done)
		for r := range s.reqs {
			r.err <- r.cmd.Start()
		}
	}()
	return s
}

// start starts cmd with Pdeathsig SIGKILL.
func (s *spawner) start(cmd *exec.Cmd) error {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	r := spawnReq{cmd: cmd, err: make(chan error, 1)}
	s.reqs <- r
	return <-r.err
}

// close ends the spawner's thread; every process it started must have
// exited (they would be killed).
func (s *spawner) close() {
	s.once.Do(func() {
		close(s.reqs)
		<-s.done
	})
}

// proc is one running kvnode process.
type proc struct {
	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error
	log     *os.File
}

// startProc starts cmd through sp, its stdout and stderr appended to
// logPath.
func startProc(sp *spawner, cmd *exec.Cmd, logPath string) (*proc, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(f, "=== %s start: %v\n", time.Now().Format(time.RFC3339Nano), cmd.Args)
	cmd.Stdout, cmd.Stderr = f, f
	if err := sp.start(cmd); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("start %v: %w", cmd.Args, err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{}), log: f}
	go func() {
		p.waitErr = cmd.Wait()
		fmt.Fprintf(f, "=== %s exit: %v\n", time.Now().Format(time.RFC3339Nano), p.waitErr)
		_ = f.Close()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has exited.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// signal sends sig to the process unless it has exited.
func (p *proc) signal(sig syscall.Signal) error {
	if p.exited() {
		return nil
	}
	err := p.cmd.Process.Signal(sig)
	if errors.Is(err, os.ErrProcessDone) {
		return nil
	}
	return err
}

// kill sends SIGKILL and waits for the exit.
func (p *proc) kill() {
	_ = p.signal(syscall.SIGKILL) // kills a stopped process too
	<-p.done
}

// stop sends SIGTERM (after SIGCONT, in case it is paused) and waits up to
// grace for the exit, then kills it; it reports whether the process
// exited by itself.
func (p *proc) stop(grace time.Duration) bool {
	_ = p.signal(syscall.SIGCONT)
	_ = p.signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
		return true
	case <-t.C:
		p.kill()
		return false
	}
}
