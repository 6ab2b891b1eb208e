package gen

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Journal remembers when a bulk run first started, so that the same run
// restarted after an interruption (Ctrl-C, kill -9, a crash) skips the
// pages its earlier attempts already made: a page generated after
// Journal.Started is finished work. It is one small file, written
// atomically (temp file, fsync, rename, directory fsync) before any page is
// made, and removed when the run completes.
//
// A Journal is not safe for concurrent use; one run owns it.
type Journal struct {
	// Started is when the first attempt of the run started.
	Started time.Time
	// Resumed is true when the file already existed: an earlier attempt
	// was interrupted.
	Resumed bool
	// Path is the journal file.
	Path string
}

// journalFile is the journal's content.
type journalFile struct {
	Started time.Time `json:"started"`
	Run     string    `json:"run"` // the run's description, for people reading the file
}

// RunID names a run by its arguments: the same normalised arguments give
// the same ID, so a restarted run finds its journal. Arguments that do not
// change which pages a run makes (pace, progress, output files) should be
// left out.
func RunID(args ...string) string {
	h := sha256.New()
	for _, a := range args {
		fmt.Fprintf(h, "%d:%s\n", len(a), a)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// OpenJournal opens the journal of run id in dir (creating dir), or starts
// one at now if there is none. desc is stored in the file for people
// reading it. A journal that cannot be parsed is replaced by a new one.
func OpenJournal(dir, id, desc string, now time.Time) (*Journal, error) {
	if id == "" || strings.ContainsAny(id, `/\.`) {
		return nil, fmt.Errorf("gen: journal: bad run id %q", id)
	}
	path := filepath.Join(dir, id)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		var jf journalFile
		if json.Unmarshal(b, &jf) == nil && !jf.Started.IsZero() {
			return &Journal{Started: jf.Started, Resumed: true, Path: path}, nil
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("gen: journal: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("gen: journal: %w", err)
	}
	b, _ = json.Marshal(journalFile{Started: now.UTC(), Run: desc})
	if err := writeAtomic(path, append(b, '\n')); err != nil {
		return nil, fmt.Errorf("gen: journal: %w", err)
	}
	return &Journal{Started: now.UTC(), Path: path}, nil
}

// Remove deletes the journal: the run completed. A missing file is not an
// error.
func (j *Journal) Remove() error {
	if err := os.Remove(j.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("gen: journal: %w", err)
	}
	return nil
}

// writeAtomic writes data to path through a synced temp file and a rename,
// then syncs the directory: after a crash the file is either absent or
// whole.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
