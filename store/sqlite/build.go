package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
)

// ErrExists marks a Build whose path holds a file already.
var ErrExists = errors.New("file exists")

// Build makes a new register at path in one go (cadastre demo --scale,
// an import into a new file): fn writes it through a Store opened on a
// hidden file beside path (".NAME.building-*") with no rollback journal
// and no write-ahead log (journal_mode=OFF) and no fsync, and only when
// fn returns nil is that file switched to WAL, synced and linked at path.
// The build then needs one register's worth of disk, not two: in WAL
// mode one transaction of 10M assignments held a 2.45 GB log beside the
// 2.46 GB file until its commit. A failure or a cancelled ctx (Ctrl-C)
// removes the file; a crash leaves the hidden one, never a half-written
// register at path. path must not exist (ErrExists).
func Build(ctx context.Context, path string, fn func(*Store) error) error {
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("database %s: %w", path, ErrExists)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("database %s: %w", path, err)
	}
	tmp, err := createHidden(path)
	if err != nil {
		return fmt.Errorf("database %s: %w", path, explain(err))
	}
	done := false
	defer func() {
		if !done {
			for _, f := range []string{tmp, tmp + "-wal", tmp + "-shm"} {
				os.Remove(f)
			}
		}
	}()
	s, err := Open(ctx, tmp, Options{build: true})
	if err != nil {
		return fmt.Errorf("database %s: %w", path, err)
	}
	err = fn(s)
	if cerr := s.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("database %s: close: %w", path, cerr)
	}
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return err
	}
	if err := finish(ctx, tmp); err != nil {
		return fmt.Errorf("database %s: %w", path, err)
	}
	// A link does not replace a file made at path meanwhile, as a
	// rename would.
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("database %s: made by someone else during the build; the build is thrown away: %w", path, ErrExists)
		}
		if err := os.Rename(tmp, path); err != nil {
			return fmt.Errorf("database %s: %w", path, err)
		}
	}
	done = true
	os.Remove(tmp)
	return syncDir(filepath.Dir(path))
}

// finish makes the built file an ordinary register: WAL mode (the mode
// every Open sets, written in its header here so that a read-only open
// of it reads it so) and on the disk before it is given its name.
func finish(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
	if err != nil {
		return err
	}
	err = db.PingContext(ctx)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("switch to WAL: %w", explain(err))
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDir makes a new name in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// createHidden creates an empty file beside path, named after it
// (".NAME.building-N"), with the mode SQLite gives a register it creates
// (0644 less the umask), which the file keeps when it is named path.
func createHidden(path string) (string, error) {
	dir, base := filepath.Dir(path), filepath.Base(path)
	for {
		tmp := filepath.Join(dir, fmt.Sprintf(".%s.building-%d", base, rand.Uint32()))
		f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		return tmp, f.Close()
	}
}
