package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The memory and sidecar-start bars measure a real `dualgate serve`
// process (its RSS as the kernel reports it, its time from exec), not the
// in-process server the other bars use: this file builds the binary and
// starts, watches and stops it.

// dualgateBin is a prebuilt binary to use instead of building one.
var dualgateBin = flag.String("dualgate-bin", "", "dualgate binary the memory and sidecar bars run (empty: go build ./cmd/dualgate into a temporary directory)")

// builtBin caches the binary built for this run.
var builtBin struct {
	once sync.Once
	path string
	err  error
}

// binary returns -dualgate-bin, or builds ./cmd/dualgate of the module
// dgbench runs in (once per run; removed when dgbench exits via cleanup).
func binary(ctx context.Context) (string, error) {
	if *dualgateBin != "" {
		return *dualgateBin, nil
	}
	builtBin.once.Do(func() {
		out, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}").Output()
		if err != nil {
			builtBin.err = fmt.Errorf("find the module root (go list -m): %w", err)
			return
		}
		dir, err := os.MkdirTemp("", "dgbench-bin-")
		if err != nil {
			builtBin.err = err
			return
		}
		cleanups = append(cleanups, func() { _ = os.RemoveAll(dir) })
		bin := filepath.Join(dir, "dualgate")
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/dualgate")
		cmd.Dir = strings.TrimSpace(string(out))
		if b, err := cmd.CombinedOutput(); err != nil {
			builtBin.err = fmt.Errorf("go build ./cmd/dualgate: %w\n%s", err, b)
			return
		}
		builtBin.path = bin
	})
	return builtBin.path, builtBin.err
}

// cleanups run when dgbench exits (main).
var cleanups []func()

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// procMem is a process's resident set as /proc/<pid>/status reports it.
type procMem struct {
	rss, hwm uint64 // VmRSS, VmHWM in bytes
	anon     uint64 // RssAnon in bytes (heaps, stacks, caches)
	file     uint64 // RssFile in bytes (the binary's pages, mapped files)
}

// readProcMem reads VmRSS, VmHWM, RssAnon and RssFile of pid.
func readProcMem(pid int) (procMem, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procMem{}, err
	}
	defer f.Close()
	return parseProcStatus(f)
}

// parseProcStatus reads the memory lines of a /proc/<pid>/status file.
func parseProcStatus(r io.Reader) (procMem, error) {
	var m procMem
	seen := 0
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		var dst *uint64
		switch k {
		case "VmRSS":
			dst = &m.rss
		case "VmHWM":
			dst = &m.hwm
		case "RssAnon":
			dst = &m.anon
		case "RssFile":
			dst = &m.file
		default:
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			return m, fmt.Errorf("/proc status line %q: want <n> kB", sc.Text())
		}
		n, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return m, fmt.Errorf("/proc status line %q: %w", sc.Text(), err)
		}
		*dst = n << 10
		seen++
	}
	if err := sc.Err(); err != nil {
		return m, err
	}
	if seen != 4 {
		return m, errors.New("/proc status: VmRSS, VmHWM, RssAnon or RssFile missing")
	}
	return m, nil
}

// rssSampler records the highest VmRSS of a process between resets,
// sampling every interval (VmHWM is the peak of the whole life only).
type rssSampler struct {
	pid  int
	mu   sync.Mutex
	peak uint64
	stop chan struct{}
	done chan struct{}
}

func startSampler(pid int, every time.Duration) *rssSampler {
	s := &rssSampler{pid: pid, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			s.sample()
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *rssSampler) sample() {
	m, err := readProcMem(s.pid)
	if err != nil {
		return
	}
	s.mu.Lock()
	s.peak = max(s.peak, m.rss)
	s.mu.Unlock()
}

// take returns the peak since the last take (sampling once more first) and
// starts a new period.
func (s *rssSampler) take() uint64 {
	s.sample()
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.peak
	s.peak = 0
	return p
}

func (s *rssSampler) close() {
	close(s.stop)
	<-s.done
}

// process is a started dualgate binary.
type process struct {
	cmd    *exec.Cmd
	start  time.Time // just before exec
	stderr *lockedBuffer
	exited chan struct{}
	err    error // the exit, once exited is closed
}

// startProcess execs bin with args, its stderr kept (logs; shown when a
// bar fails).
func startProcess(bin string, args ...string) (*process, error) {
	p := &process{stderr: &lockedBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stderr = p.stderr
	// A dgbench that is interrupted or fails leaves no server behind.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	p.start = time.Now()
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// startServe execs `bin serve args...` on a free loopback port, with its
// admin listener on another and --trust, and returns the process, the
// Postgres port and the admin address (readiness is the caller's to wait
// for: waitReady).
func startServe(bin string, args ...string) (p *process, port int, admin string, err error) {
	if port, err = freePort(); err != nil {
		return nil, 0, "", err
	}
	adminPort, err := freePort()
	if err != nil {
		return nil, 0, "", err
	}
	admin = fmt.Sprintf("127.0.0.1:%d", adminPort)
	args = append(append([]string{"serve"}, args...),
		"--listen", fmt.Sprintf("127.0.0.1:%d", port), "--admin", admin, "--trust")
	if p, err = startProcess(bin, args...); err != nil {
		return nil, 0, "", err
	}
	return p, port, admin, nil
}

// stop sends SIGTERM and waits for the exit (SIGKILL after 15 s).
func (p *process) stop() {
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// failed wraps err with the process's log tail.
func (p *process) failed(err error) error {
	tail := p.stderr.String()
	if len(tail) > 4000 {
		tail = tail[len(tail)-4000:]
	}
	return fmt.Errorf("%w\ndualgate stderr (tail):\n%s", err, tail)
}

// waitReady polls http://admin/readyz every interval until it answers 200
// and returns the time since exec.
func (p *process) waitReady(ctx context.Context, admin string, every, limit time.Duration) (time.Duration, error) {
	client := &http.Client{Timeout: time.Second}
	deadline := p.start.Add(limit)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+admin+"/readyz", nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(p.start), nil
			}
		}
		select {
		case <-p.exited:
			return 0, p.failed(fmt.Errorf("dualgate exited before /readyz answered 200: %v", p.err))
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(every):
		}
		if time.Now().After(deadline) {
			return 0, p.failed(fmt.Errorf("/readyz not 200 within %s", limit))
		}
	}
}

// lockedBuffer is an io.Writer safe to read while a process writes it.
type lockedBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b = append(l.b, p...)
	return len(p), nil
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.b)
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// httpGetTo copies the body of a GET of url (status 200) to w.
func httpGetTo(ctx context.Context, url string, w io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	_, err = io.Copy(w, resp.Body)
	return err
}
