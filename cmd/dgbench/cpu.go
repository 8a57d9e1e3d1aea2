package main

import (
	"bufio"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// CPU accounting of the servers behind the point-lookup targets, so each
// run can say how much CPU a transaction cost on each side. On a 2-core
// machine shared by pgbench and the server, TPS is bounded by the sum of
// both sides' CPU per transaction; the split says which side a change
// could move.

// clockTick is the unit of /proc/<pid>/stat times (USER_HZ, 100 on every
// Linux architecture dgbench runs on).
const clockTick = 10 * time.Millisecond

// procCPU reads pid's user + system time from /proc, with the times of the
// children it has reaped when children is set.
func procCPU(pid int, children bool) func() time.Duration {
	return func() time.Duration {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return 0
		}
		// The command name (field 2) may hold spaces; fields after it
		// start at the last ')'. utime, stime, cutime, cstime are fields
		// 14–17, so 11–14 after the state field.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 15 {
			return 0
		}
		n := 2
		if children {
			n = 4
		}
		var ticks int64
		for _, v := range f[11 : 11+n] {
			t, _ := strconv.ParseInt(v, 10, 64)
			ticks += t
		}
		return time.Duration(ticks) * clockTick
	}
}

// postmasterCPU is the CPU of a PostgreSQL server: the postmaster with the
// backends it has reaped, plus its live children (checkpointer, WAL
// writer, …). It waits a moment first so that the backends of a pgbench
// run that just ended have exited and been reaped, not read half-way.
func postmasterCPU(pid int) func() time.Duration {
	self := procCPU(pid, true)
	return func() time.Duration {
		time.Sleep(300 * time.Millisecond)
		total := self()
		kids, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + strconv.Itoa(pid) + "/children")
		if err != nil {
			return total
		}
		for _, k := range strings.Fields(string(kids)) {
			if c, err := strconv.Atoi(k); err == nil {
				total += procCPU(c, false)()
			}
		}
		return total
	}
}

// metricsMallocs counts a dualgate process's heap allocations so far (the
// go_memstats_mallocs_total counter of its admin /metrics; tiny objects
// included); 0 when it cannot be read. Reading it allocates in the server
// too, a few thousand objects per read, two reads per run.
func metricsMallocs(admin string) func() uint64 {
	client := &http.Client{Timeout: 5 * time.Second}
	return func() uint64 {
		resp, err := client.Get("http://" + admin + "/metrics")
		if err != nil {
			return 0
		}
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "go_memstats_mallocs_total "); ok {
				f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				if err != nil {
					return 0
				}
				return uint64(f)
			}
		}
		return 0
	}
}
