package canonical

import (
	"bufio"
	"context"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/cockroachdb/pebble/v2"
)

const (
	crashEnv = "CANONICAL_CRASH_CHILD_DIR"
	// crashSSTEnv set makes the child commit through sstables
	// (Options.CommitSSTableBytes 1: every commit one Ingest).
	crashSSTEnv = "CANONICAL_CRASH_CHILD_SST"
	// crashAtIngestEnv=n makes the child SIGKILL itself from Pebble's
	// TableIngested event of its n-th Ingest: after that Ingest applied,
	// before the commit returned (and before any further Ingest of the
	// same commit, were a commit ever split over two).
	crashAtIngestEnv = "CANONICAL_CRASH_CHILD_KILL_AT_INGEST"
)

// TestCrashChild is the child process of TestCrashRecovery: it commits in a
// loop (one raw row and one upsert per commit, atomically) and prints
// "ack <order id>" after each commit returns. It is skipped unless started
// by the parent.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashEnv)
	if dir == "" {
		t.Skip("child of TestCrashRecovery")
	}
	ctx := context.Background()
	var opts Options
	if os.Getenv(crashSSTEnv) != "" {
		opts.CommitSSTableBytes = 1
	}
	if at, _ := strconv.Atoi(os.Getenv(crashAtIngestEnv)); at > 0 {
		var ingests atomic.Int32
		opts.Pebble = &pebble.Options{EventListener: &pebble.EventListener{TableIngested: func(pebble.TableIngestInfo) {
			if int(ingests.Add(1)) == at {
				_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {} // until the signal lands
			}
		}}}
	}
	s, err := Open(ctx, dir, opts)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	if s.Head().ID == 0 {
		ts := ordersSchema
		if _, err := s.Commit(ctx, CommitRequest{Kind: KindSchema, Schema: []SchemaChange{{CreateTable: &ts}}}); err != nil {
			fmt.Println("error", err)
			os.Exit(2)
		}
	}
	w := bufio.NewWriter(os.Stdout)
	for n := s.Head().ID; ; n++ {
		tx, err := s.Begin(ctx)
		if err != nil {
			fmt.Println("error", err)
			os.Exit(2)
		}
		id := fmt.Sprintf("c%06d", n)
		if _, _, err := tx.AppendRaw("oms", [][]any{{id, "accepted"}}, id); err != nil {
			fmt.Println("error", err)
			os.Exit(2)
		}
		ch := []Change{{Table: "orders", Op: OpUpsert, Row: order(id, "accepted", fmt.Sprint(n))}}
		if n%3 == 0 {
			ch = append(ch, Change{Table: "orders", Op: OpUpsert, Row: order(fmt.Sprintf("c%06d", n/3), "paid", fmt.Sprint(n))})
		}
		if _, err := tx.Commit(ctx, CommitRequest{Kind: KindIngest, Source: "oms", Changes: ch}); err != nil {
			fmt.Println("error", err)
			os.Exit(2)
		}
		if opts.CommitSSTableBytes > 0 && s.db.Metrics().Ingest.Count == 0 {
			fmt.Println("error: a commit on the sstable path did not ingest")
			os.Exit(2)
		}
		fmt.Fprintf(w, "ack %s\n", id)
		w.Flush()
	}
}

// TestCrashRecovery SIGKILLs a committing child process at random points and
// checks after each restart that every acknowledged commit is present, raw
// rows and commits match one to one (no partial batch) and Verify passes.
// Rounds 1, 2, 4 and 5 commit through sstables and Ingest (commitsst.go),
// the others through batches, over the same directory; in rounds 2 and 5
// the child kills itself right after one of its Ingests applied, before
// the commit returns (an unacknowledged commit that must be whole).
func TestCrashRecovery(t *testing.T) {
	if os.Getenv(crashEnv) != "" || testing.Short() {
		t.Skip()
	}
	dir := t.TempDir()
	r := rand.New(rand.NewSource(7))
	var acked []string
	for round := 0; round < 6; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashEnv+"="+dir)
		sst, selfKill := round%3 != 0, round%3 == 2
		if sst {
			cmd.Env = append(cmd.Env, crashSSTEnv+"=1")
		}
		if selfKill {
			// An odd count: were a commit split over two Ingests, the
			// kill would land between them (the test then fails).
			cmd.Env = append(cmd.Env, fmt.Sprintf("%s=%d", crashAtIngestEnv, 5+2*r.Intn(15)))
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		killAfter := 5 + r.Intn(40)
		if selfKill {
			killAfter = 1 << 30
		}
		sc := bufio.NewScanner(out)
		n := 0
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, "error") {
				_ = cmd.Process.Kill()
				t.Fatal(line)
			}
			if id, ok := strings.CutPrefix(line, "ack "); ok {
				acked = append(acked, id)
				n++
				if n == killAfter {
					_ = cmd.Process.Kill() // SIGKILL
					break
				}
			}
		}
		_ = cmd.Wait()
		if n < killAfter && !selfKill {
			t.Fatalf("round %d: child ended after %d acks", round, n)
		}
		if n >= killAfter && selfKill {
			t.Fatalf("round %d: child did not kill itself at an ingest", round)
		}
		ctx := context.Background()
		if left, _ := filepath.Glob(filepath.Join(dir, commitFilePrefix+"*")); sst {
			t.Logf("round %d: %d commit sstables left by the kill", round, len(left))
		}
		s, err := Open(ctx, dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if left, _ := filepath.Glob(filepath.Join(dir, commitFilePrefix+"*")); len(left) > 0 {
			t.Fatalf("round %d: commit sstables left after Open: %v", round, left)
		}
		for _, id := range acked {
			if _, ok, err := s.Get(ctx, "orders", []any{id}, HEAD); err != nil || !ok {
				t.Fatalf("round %d: acknowledged %s missing (%v)", round, id, err)
			}
		}
		raws, err := s.ScanRaw(ctx, "oms", 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		head := s.Head()
		if uint64(len(raws)) != head.ID-1 {
			t.Fatalf("round %d: %d raw rows but %d ingest commits", round, len(raws), head.ID-1)
		}
		rep, err := s.Verify(ctx)
		if err != nil || !rep.OK {
			t.Fatalf("round %d: verify %+v %v", round, rep, err)
		}
		t.Logf("round %d: killed after %d acks; head %d, %d raw rows, verify ok", round, n, head.ID, len(raws))
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
