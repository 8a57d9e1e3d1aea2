// Package redistest starts throwaway redis-server processes (Debian's
// redis-server) on loopback for tests that need the real thing, as pgtest
// does for PostgreSQL.
package redistest

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Bin is the redis-server tests start: $REDIS_SERVER, else the first on
// PATH, else Debian's path.
func Bin() string {
	if b := os.Getenv("REDIS_SERVER"); b != "" {
		return b
	}
	if b, err := exec.LookPath("redis-server"); err == nil {
		return b
	}
	return "/usr/bin/redis-server"
}

// Start starts an empty redis-server with persistence off on a free
// loopback port and returns its redis:// URL and a stop function (also run
// at cleanup). The test fails, never skips, if the server cannot start.
func Start(t testing.TB, extra ...string) (url string, stop func()) {
	t.Helper()
	bin := Bin()
	for attempt := 0; attempt < 10; attempt++ {
		// A random port below the kernel's ephemeral range: a test that
		// stops a server and restarts it on the same port must not find
		// the port handed to another test's server in between (ports the
		// kernel assigns for ":0" are reused in order).
		port := 20000 + rand.IntN(10000)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		l.Close()
		dir := t.TempDir()
		args := append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "",
			"--appendonly", "no", "--dir", dir, "--logfile", filepath.Join(dir, "redis.log")}, extra...)
		cmd := exec.Command(bin, args...)
		if err := cmd.Start(); err != nil {
			t.Fatalf("start %s: %v (this test needs a real redis-server)", bin, err)
		}
		var once sync.Once
		stop := func() {
			once.Do(func() {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
			})
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		if Wait(addr, 5*time.Second) {
			t.Cleanup(stop)
			return "redis://" + addr + "/0", stop
		}
		stop()
	}
	t.Fatalf("redis-server (%s) did not start", bin)
	return "", nil
}

// Wait reports whether a Redis at addr answers PING within d.
func Wait(addr string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			_ = c.SetDeadline(time.Now().Add(time.Second))
			_, _ = c.Write([]byte("PING\r\n"))
			line, err := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if err == nil && line == "+PONG\r\n" {
				return true
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}
