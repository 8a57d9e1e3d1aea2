package projections

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisServerBin is the redis-server the tests start (REDIS_SERVER overrides).
func redisServerBin() string {
	if b := os.Getenv("REDIS_SERVER"); b != "" {
		return b
	}
	return "/usr/bin/redis-server"
}

// startRedis starts a real, empty redis-server on a free loopback port with
// persistence off and returns its redis:// URL. The test fails (never
// skips) if the server cannot start; it is stopped at cleanup.
func startRedis(t testing.TB) string {
	t.Helper()
	bin := redisServerBin()
	for attempt := 0; attempt < 5; attempt++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("free port: %v", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		dir := t.TempDir()
		cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", dir, "--logfile", filepath.Join(dir, "redis.log"))
		if err := cmd.Start(); err != nil {
			t.Fatalf("start %s: %v (the Redis tests need a real redis-server)", bin, err)
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		if waitRedis(addr, 5*time.Second) {
			t.Cleanup(func() {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
			})
			return "redis://" + addr
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	t.Fatalf("redis-server (%s) did not start", bin)
	return ""
}

// startRedisServer starts one redis-server with extra arguments and returns
// its address.
func startRedisServer(t testing.TB, extra ...string) string {
	t.Helper()
	bin := redisServerBin()
	for attempt := 0; attempt < 5; attempt++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("free port: %v", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		dir := t.TempDir()
		args := append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", dir, "--logfile", filepath.Join(dir, "redis.log")}, extra...)
		cmd := exec.Command(bin, args...)
		if err := cmd.Start(); err != nil {
			t.Fatalf("start %s: %v (the Redis tests need a real redis-server)", bin, err)
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		if waitRedis(addr, 5*time.Second) {
			t.Cleanup(func() {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
			})
			return addr
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	t.Fatalf("redis-server (%s) did not start", bin)
	return ""
}

// redisProc is a redis-server the test can stop and restart (empty) on
// the same port.
type redisProc struct {
	t    testing.TB
	addr string
	cmd  *exec.Cmd
}

func startRedisProc(t testing.TB) *redisProc {
	t.Helper()
	addr := startRedisServer(t)
	p := &redisProc{t: t, addr: addr}
	return p
}

// stop kills the server (SHUTDOWN NOSAVE: nothing is persisted anyway).
func (p *redisProc) stop() {
	c := redis.NewClient(&redis.Options{Addr: p.addr})
	defer c.Close()
	_ = c.Do(context.Background(), "SHUTDOWN", "NOSAVE").Err()
	deadline := time.Now().Add(5 * time.Second)
	for waitRedis(p.addr, 10*time.Millisecond) {
		if time.Now().After(deadline) {
			p.t.Fatal("redis-server did not stop")
		}
	}
}

// restart starts an empty server on the same port.
func (p *redisProc) restart() {
	_, port, _ := net.SplitHostPort(p.addr)
	dir := p.t.TempDir()
	cmd := exec.Command(redisServerBin(), "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--logfile", filepath.Join(dir, "redis.log"))
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("restart redis-server: %v", err)
	}
	p.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	if !waitRedis(p.addr, 5*time.Second) {
		p.t.Fatal("redis-server did not restart")
	}
}

// startRedisCluster starts a 3-node Redis Cluster (masters only) on
// loopback ports, assigns the 16384 slots in three ranges, joins the nodes
// and waits until every node reports cluster_state:ok. It returns a
// redis+cluster:// URL naming all three nodes.
func startRedisCluster(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	var addrs []string
	var clients []*redis.Client
	for i := 0; i < 3; i++ {
		a := startRedisServer(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000")
		addrs = append(addrs, a)
		c := redis.NewClient(&redis.Options{Addr: a})
		t.Cleanup(func() { c.Close() })
		clients = append(clients, c)
	}
	ranges := [][2]int{{0, 5460}, {5461, 10922}, {10923, 16383}}
	for i, c := range clients {
		if err := c.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", ranges[i][0], ranges[i][1]).Err(); err != nil {
			t.Fatalf("cluster addslotsrange: %v", err)
		}
	}
	for _, a := range addrs[1:] {
		host, port, _ := net.SplitHostPort(a)
		if err := clients[0].ClusterMeet(ctx, host, port).Err(); err != nil {
			t.Fatalf("cluster meet: %v", err)
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		ok := true
		for _, c := range clients {
			info, err := c.ClusterInfo(ctx).Result()
			if err != nil || !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_known_nodes:3") {
				ok = false
			}
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("redis cluster did not become ready")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return "redis+cluster://" + addrs[0] + "?addr=" + addrs[1] + "&addr=" + addrs[2]
}

func waitRedis(addr string, d time.Duration) bool {
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

func newRedisStoreForTest(t testing.TB) *RedisStore {
	t.Helper()
	url := startRedis(t)
	s, err := NewRedisStoreWith(context.Background(), url, RedisOptions{Instance: "test"})
	if err != nil {
		t.Fatalf("NewRedisStore: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
