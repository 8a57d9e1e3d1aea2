package main

import (
	"strings"
	"testing"
)

func TestParseProcStatus(t *testing.T) {
	status := "Name:\tdualgate\nVmPeak:\t 2000000 kB\nVmHWM:\t  246100 kB\nVmRSS:\t  231800 kB\nRssAnon:\t  160600 kB\nRssFile:\t   71200 kB\nRssShmem:\t       0 kB\nThreads:\t12\n"
	m, err := parseProcStatus(strings.NewReader(status))
	if err != nil {
		t.Fatal(err)
	}
	if m.hwm != 246100<<10 || m.rss != 231800<<10 || m.anon != 160600<<10 || m.file != 71200<<10 {
		t.Fatalf("parsed %+v", m)
	}
	if _, err := parseProcStatus(strings.NewReader("VmRSS:\t 1 kB\n")); err == nil {
		t.Fatal("a status without VmHWM parsed")
	}
	if _, err := parseProcStatus(strings.NewReader("VmRSS:\t 1 MB\nVmHWM:\t 1 kB\nRssAnon:\t 1 kB\nRssFile:\t 1 kB\n")); err == nil {
		t.Fatal("a unit other than kB parsed")
	}
}

func TestParseGoMemstats(t *testing.T) {
	text := "# HELP go_memstats_sys_bytes Number of bytes obtained from system.\n# TYPE go_memstats_sys_bytes gauge\ngo_memstats_sys_bytes 5.3778696e+07\ngo_memstats_heap_inuse_bytes 1.9161088e+07\ngo_memstats_mallocs_total 12\nprocess_resident_memory_bytes 2.2e+08\n"
	got := parseGoMemstats(text)
	if got["sys"] != 53778696 || got["heap_inuse"] != 19161088 || len(got) != 2 {
		t.Fatalf("parsed %v", got)
	}
}

func TestLoggedStartup(t *testing.T) {
	logs := `{"level":"info","admin":"127.0.0.1:1","message":"admin HTTP listening (/healthz, /readyz, /metrics)"}
{"level":"info","primary":"127.0.0.1:2","startup":19.25,"message":"sidecar ready"}
`
	d, err := loggedStartup(logs)
	if err != nil || d.Microseconds() != 19250 {
		t.Fatalf("loggedStartup: %v %v", d, err)
	}
	if _, err := loggedStartup("{}\n"); err == nil {
		t.Fatal("no ready line, no error")
	}
}
