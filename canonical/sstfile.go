package canonical

import (
	"context"
	"fmt"
	"strings"

	"github.com/cockroachdb/pebble/v2/objstorage/objstorageprovider"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Sstables written for ingestion (checkpoints, checkpoint.go; large
// commits, commitsst.go) are created in the store's directory through
// Pebble's FS (so ingesting links rather than copies, and a test's
// in-memory FS works), named <kind>-...<ingestFileSuffix>, and removed
// once ingested. Pebble ignores files it did not name; what a crash left
// before the ingest is removed at Open (removeIngestFiles).
const (
	checkpointFilePrefix = "checkpoint-"
	commitFilePrefix     = "commit-"
	ingestFileSuffix     = ".sst.tmp"
)

// ingestFile is an sstable being written for ingestion.
type ingestFile struct {
	fs   vfs.FS
	path string
	w    *sstable.Writer
	n    int  // keys written
	done bool // closed (finish or abandon)
}

// newIngestFile creates the sstable name in the store's directory.
func (s *Store) newIngestFile(name string) (*ingestFile, error) {
	fs := s.po.FS
	path := fs.PathJoin(s.dir, name)
	f, err := fs.Create(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		return nil, fmt.Errorf("canonical: create %s: %w", name, err)
	}
	wo := s.po.MakeWriterOptions(0, s.db.FormatMajorVersion().MaxTableFormat())
	return &ingestFile{fs: fs, path: path, w: sstable.NewWriter(objstorageprovider.NewFileWritable(f), wo)}, nil
}

// set adds a key (keys must be added in strictly increasing order).
func (f *ingestFile) set(k, v []byte) error {
	f.n++
	if err := f.w.Set(k, v); err != nil {
		return fmt.Errorf("canonical: write %s: %w", f.path, err)
	}
	return nil
}

// del adds a point tombstone (in key order with the sets).
func (f *ingestFile) del(k []byte) error {
	f.n++
	if err := f.w.Delete(k); err != nil {
		return fmt.Errorf("canonical: write %s: %w", f.path, err)
	}
	return nil
}

// finish completes the sstable. The writer syncs the file before closing
// it, which Pebble's Ingest requires of its caller for durability.
func (f *ingestFile) finish() error {
	if f.done {
		return nil
	}
	f.done = true
	if err := f.w.Close(); err != nil {
		return fmt.Errorf("canonical: write %s: %w", f.path, err)
	}
	return nil
}

// abandon closes the file if it is still open and removes it (after a
// failure, or after an ingest, which links the file into the store and
// leaves the original name to us).
func (f *ingestFile) abandon() {
	if !f.done {
		f.done = true
		_ = f.w.Close()
	}
	_ = f.fs.Remove(f.path)
}

// ingestFiles finishes files and ingests those holding any key with ONE
// db.Ingest call, then removes them. Pebble documents an Ingest as atomic
// and equivalent to one batch of all the files' keys (one manifest edit
// -- or, when they overlap a memtable, one synced WAL record naming all
// of them -- with sequence numbers above every earlier write) and durable
// when it returns; the files must not overlap each other in key range.
func (s *Store) ingestFiles(ctx context.Context, files []*ingestFile) error {
	defer func() {
		for _, f := range files {
			f.abandon()
		}
	}()
	paths := make([]string, 0, len(files))
	for _, f := range files {
		if err := f.finish(); err != nil {
			return err
		}
		if f.n > 0 {
			paths = append(paths, f.path)
		}
	}
	if len(paths) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// Past this check the Ingest runs to its end, as a batch's Apply does:
	// a cancellation must not be able to report a failure for files that
	// were applied (the commit would not be published, and its id reused).
	if err := s.db.Ingest(context.WithoutCancel(ctx), paths); err != nil {
		return fmt.Errorf("canonical: ingest: %w", err)
	}
	return nil
}

// removeIngestFiles deletes the sstables a crash left behind before they
// were ingested (called at Open, before any writer runs).
func (s *Store) removeIngestFiles() error {
	fs := s.po.FS
	names, err := fs.List(s.dir)
	if err != nil {
		return fmt.Errorf("canonical: list %s: %w", s.dir, err)
	}
	for _, n := range names {
		if (strings.HasPrefix(n, checkpointFilePrefix) || strings.HasPrefix(n, commitFilePrefix)) && strings.HasSuffix(n, ingestFileSuffix) {
			if err := fs.Remove(fs.PathJoin(s.dir, n)); err != nil {
				return fmt.Errorf("canonical: remove %s: %w", n, err)
			}
		}
	}
	return nil
}
