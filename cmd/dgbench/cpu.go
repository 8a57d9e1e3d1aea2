package main

import (
	"os"
	"runtime/metrics"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// CPU accounting of the servers behind the point-lookup targets, so each
// run can say how much CPU a transaction cost on each side. On a 2-core
// machine shared by pgbench and the server, TPS is bounded by the sum of
// both sides' CPU per transaction; the split says which side a change
// could move.

// selfCPU is this process's CPU so far: dgbench hosts the dualgate
// servers it measures (the other in-process servers idle meanwhile).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

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

// selfMallocs counts this process's heap allocations so far, tiny ones
// included (runtime/metrics counters, which do not stop the world).
func selfMallocs() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:objects"}, {Name: "/gc/heap/tiny/allocs:objects"}}
	metrics.Read(s)
	var n uint64
	for _, v := range s {
		if v.Value.Kind() == metrics.KindUint64 {
			n += v.Value.Uint64()
		}
	}
	return n
}
