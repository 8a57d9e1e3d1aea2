package projections

import (
	"context"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dualgate/dualgate/projections/redistest"
)

// redisServerBin is the redis-server the tests start.
func redisServerBin() string { return redistest.Bin() }

// startRedis starts a real, empty redis-server and returns its redis://
// URL; the test fails (never skips) if it cannot start.
func startRedis(t testing.TB) string {
	t.Helper()
	url, _ := redistest.Start(t)
	return url
}

// startRedisServer starts one redis-server with extra arguments and returns
// its address.
func startRedisServer(t testing.TB, extra ...string) string {
	t.Helper()
	url, _ := redistest.Start(t, extra...)
	return strings.TrimSuffix(strings.TrimPrefix(url, "redis://"), "/0")
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

func waitRedis(addr string, d time.Duration) bool { return redistest.Wait(addr, d) }

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
