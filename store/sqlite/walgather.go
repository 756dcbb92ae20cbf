package sqlite

import (
	"fmt"
	"sync"
	"unsafe"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// The writer's WAL writes gathered into one system call a commit (issue
// 16: one caller's durable allocation; bench/README.md, "Session 13").
// SQLite appends each WAL frame with two pwrite calls, its 24-byte header
// and its page, then syncs the log at COMMIT: an allocation's commit is
// ~21 pwrite calls, an empty one ~8, and on ext4 each call costs the
// kernel about as much as the bytes it carries (the inode's timestamps
// journalled per call). gatherVFS is the default (unix) VFS with the WAL
// file's xWrite held in memory while the writes run on from where the
// last one ended, and sent as one pwrite before anything that needs
// them in the file: xSync (COMMIT under synchronous=FULL), xRead,
// xTruncate, xFileSize, xFileControl, xClose, a write elsewhere, or a
// full buffer.
//
// Durability and what other connections see are as before: SQLite never
// counts an unsynced write as written (the WAL's checksums find a torn
// tail after a crash), and with synchronous=FULL it syncs the log before
// it publishes the new frames in the wal-index, so no reader is told of a
// frame still held here. Without a sync at COMMIT (synchronous=OFF or
// NORMAL) frames would be published while held: only the durable writer
// (synchronous=FULL) opens the file through this VFS.
const gatherVFS = "cadastre-gather"

// maxGather bounds what one WAL file holds back (bytes): a larger
// transaction's frames go out in pieces of this size.
const maxGather = 1 << 20

// gathered is one WAL file's held writes, in C memory: buf[:n] belongs
// at offset start. Only the connection that opened the file uses it
// (SQLite serialises a connection's calls), so it needs no lock.
type gathered struct {
	buf   uintptr
	size  int
	n     int
	start int64
}

var gather struct {
	once sync.Once
	err  error
	// unixOpen is the default VFS's xOpen; orig the io methods it gives a
	// WAL file, ours the same with the calls above wrapped.
	unixOpen uintptr
	orig     *sqlite3.Tsqlite3_io_methods
	ours     uintptr
	mu       sync.Mutex
	files    map[uintptr]*gathered
}

// registerGather registers gatherVFS once per process.
func registerGather() error {
	gather.once.Do(func() {
		tls := libc.NewTLS() // kept: the VFS lives as long as the process
		unix := sqlite3.Xsqlite3_vfs_find(tls, 0)
		if unix == 0 {
			gather.err = fmt.Errorf("WAL gathering: no default VFS")
			return
		}
		v := libc.Xcalloc(tls, 1, uint64(unsafe.Sizeof(sqlite3.Tsqlite3_vfs{})))
		name, err := libc.CString(gatherVFS)
		if v == 0 || err != nil {
			gather.err = fmt.Errorf("WAL gathering: out of memory")
			return
		}
		vfs := (*sqlite3.Tsqlite3_vfs)(cmem(v))
		*vfs = *(*sqlite3.Tsqlite3_vfs)(cmem(unix))
		vfs.FpNext, vfs.FzName = 0, name
		gather.unixOpen = vfs.FxOpen
		*(*func(*libc.TLS, uintptr, uintptr, uintptr, int32, uintptr) int32)(unsafe.Pointer(&vfs.FxOpen)) = gatherOpen
		gather.files = map[uintptr]*gathered{}
		if rc := sqlite3.Xsqlite3_vfs_register(tls, v, 0); rc != sqlite3.SQLITE_OK {
			gather.err = fmt.Errorf("WAL gathering: register the VFS: code %d", rc)
		}
	})
	return gather.err
}

func gatherOpen(tls *libc.TLS, pVfs, zName, pFile uintptr, flags int32, pOutFlags uintptr) int32 {
	rc := (*(*func(*libc.TLS, uintptr, uintptr, uintptr, int32, uintptr) int32)(unsafe.Pointer(&gather.unixOpen)))(tls, pVfs, zName, pFile, flags, pOutFlags)
	if rc != sqlite3.SQLITE_OK || flags&sqlite3.SQLITE_OPEN_WAL == 0 {
		return rc
	}
	f := (*sqlite3.Tsqlite3_file)(cmem(pFile))
	gather.mu.Lock()
	defer gather.mu.Unlock()
	if gather.orig == nil && f.FpMethods != 0 {
		m := libc.Xcalloc(tls, 1, uint64(unsafe.Sizeof(sqlite3.Tsqlite3_io_methods{})))
		if m == 0 {
			return rc // not gathered: the file works as the default VFS's
		}
		gather.orig = (*sqlite3.Tsqlite3_io_methods)(cmem(f.FpMethods))
		ours := (*sqlite3.Tsqlite3_io_methods)(cmem(m))
		*ours = *gather.orig
		*(*func(*libc.TLS, uintptr) int32)(unsafe.Pointer(&ours.FxClose)) = gatherClose
		*(*func(*libc.TLS, uintptr, uintptr, int32, int64) int32)(unsafe.Pointer(&ours.FxRead)) = gatherRead
		*(*func(*libc.TLS, uintptr, uintptr, int32, int64) int32)(unsafe.Pointer(&ours.FxWrite)) = gatherWrite
		*(*func(*libc.TLS, uintptr, int64) int32)(unsafe.Pointer(&ours.FxTruncate)) = gatherTruncate
		*(*func(*libc.TLS, uintptr, int32) int32)(unsafe.Pointer(&ours.FxSync)) = gatherSync
		*(*func(*libc.TLS, uintptr, uintptr) int32)(unsafe.Pointer(&ours.FxFileSize)) = gatherFileSize
		*(*func(*libc.TLS, uintptr, int32, uintptr) int32)(unsafe.Pointer(&ours.FxFileControl)) = gatherFileControl
		gather.ours = m
	}
	if gather.ours == 0 || f.FpMethods != uintptr(unsafe.Pointer(gather.orig)) {
		return rc
	}
	gather.files[pFile] = &gathered{}
	f.FpMethods = gather.ours
	return rc
}

func gatheredOf(pFile uintptr) *gathered {
	gather.mu.Lock()
	defer gather.mu.Unlock()
	return gather.files[pFile]
}

// flush writes what g holds with the default VFS's xWrite.
func (g *gathered) flush(tls *libc.TLS, pFile uintptr) int32 {
	if g == nil || g.n == 0 {
		return sqlite3.SQLITE_OK
	}
	n := g.n
	g.n = 0
	return (*(*func(*libc.TLS, uintptr, uintptr, int32, int64) int32)(unsafe.Pointer(&gather.orig.FxWrite)))(tls, pFile, g.buf, int32(n), g.start)
}

func gatherWrite(tls *libc.TLS, pFile, zBuf uintptr, iAmt int32, iOfst int64) int32 {
	g := gatheredOf(pFile)
	if g == nil {
		return (*(*func(*libc.TLS, uintptr, uintptr, int32, int64) int32)(unsafe.Pointer(&gather.orig.FxWrite)))(tls, pFile, zBuf, iAmt, iOfst)
	}
	if g.n > 0 && (iOfst != g.start+int64(g.n) || g.n+int(iAmt) > maxGather) {
		if rc := g.flush(tls, pFile); rc != sqlite3.SQLITE_OK {
			return rc
		}
	}
	if int(iAmt) > maxGather {
		return (*(*func(*libc.TLS, uintptr, uintptr, int32, int64) int32)(unsafe.Pointer(&gather.orig.FxWrite)))(tls, pFile, zBuf, iAmt, iOfst)
	}
	if g.n+int(iAmt) > g.size {
		size := max(64<<10, 2*g.size)
		for size < g.n+int(iAmt) {
			size *= 2
		}
		size = min(size, maxGather)
		p := libc.Xrealloc(tls, g.buf, uint64(size))
		if p == 0 {
			if rc := g.flush(tls, pFile); rc != sqlite3.SQLITE_OK {
				return rc
			}
			return (*(*func(*libc.TLS, uintptr, uintptr, int32, int64) int32)(unsafe.Pointer(&gather.orig.FxWrite)))(tls, pFile, zBuf, iAmt, iOfst)
		}
		g.buf, g.size = p, size
	}
	if g.n == 0 {
		g.start = iOfst
	}
	copy(unsafe.Slice((*byte)(cmem(g.buf+uintptr(g.n))), iAmt), unsafe.Slice((*byte)(cmem(zBuf)), iAmt))
	g.n += int(iAmt)
	return sqlite3.SQLITE_OK
}

func gatherSync(tls *libc.TLS, pFile uintptr, flags int32) int32 {
	if rc := gatheredOf(pFile).flush(tls, pFile); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return (*(*func(*libc.TLS, uintptr, int32) int32)(unsafe.Pointer(&gather.orig.FxSync)))(tls, pFile, flags)
}

func gatherRead(tls *libc.TLS, pFile, zBuf uintptr, iAmt int32, iOfst int64) int32 {
	if rc := gatheredOf(pFile).flush(tls, pFile); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return (*(*func(*libc.TLS, uintptr, uintptr, int32, int64) int32)(unsafe.Pointer(&gather.orig.FxRead)))(tls, pFile, zBuf, iAmt, iOfst)
}

func gatherTruncate(tls *libc.TLS, pFile uintptr, size int64) int32 {
	if rc := gatheredOf(pFile).flush(tls, pFile); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return (*(*func(*libc.TLS, uintptr, int64) int32)(unsafe.Pointer(&gather.orig.FxTruncate)))(tls, pFile, size)
}

func gatherFileSize(tls *libc.TLS, pFile, pSize uintptr) int32 {
	if rc := gatheredOf(pFile).flush(tls, pFile); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return (*(*func(*libc.TLS, uintptr, uintptr) int32)(unsafe.Pointer(&gather.orig.FxFileSize)))(tls, pFile, pSize)
}

func gatherFileControl(tls *libc.TLS, pFile uintptr, op int32, pArg uintptr) int32 {
	if rc := gatheredOf(pFile).flush(tls, pFile); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return (*(*func(*libc.TLS, uintptr, int32, uintptr) int32)(unsafe.Pointer(&gather.orig.FxFileControl)))(tls, pFile, op, pArg)
}

func gatherClose(tls *libc.TLS, pFile uintptr) int32 {
	gather.mu.Lock()
	g := gather.files[pFile]
	delete(gather.files, pFile)
	gather.mu.Unlock()
	rc := g.flush(tls, pFile)
	if g != nil && g.buf != 0 {
		libc.Xfree(tls, g.buf)
	}
	if crc := (*(*func(*libc.TLS, uintptr) int32)(unsafe.Pointer(&gather.orig.FxClose)))(tls, pFile); rc == sqlite3.SQLITE_OK {
		rc = crc
	}
	return rc
}

// cmem is the C memory at p (SQLite's and libc's allocations, outside the
// Go heap: the garbage collector neither moves nor frees it).
func cmem(p uintptr) unsafe.Pointer { return unsafe.Add(nil, p) }
