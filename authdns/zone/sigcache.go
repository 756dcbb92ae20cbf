package zone

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/bits"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
)

// SigCache keeps a server's precomputed signatures on disk between two
// starts, so that a start-up signs again only what changed meanwhile.
//
// A start-up signs every set and NSEC3 link of every signed zone: at 10M
// names about five million ECDSA signatures, ~70 % of its CPU
// (bench/README.md, "Session 13: DNS at 10M names on PostgreSQL"). Both
// algorithms sign deterministically here (RFC 6979 for ECDSA, see
// deterministic), so a signature is a function of the key and the signed
// data (the RRSIG RDATA, validity period and signer included, then the
// records): the cache maps a digest of the two to the signature, and a
// signature found there is the one the key would make again.
//
// Its life in a server: Load reads the file (if any) before the first
// build, which looks each signature up before making it; Save then
// writes the signatures that build used (found or made) and closes the
// cache: later builds sign as before, and their signatures are in the
// file only after the next start. So a restart after a long uptime
// re-signs what was renewed since the last start (at most every
// signature after Refresh, 7 days by default).
//
// The file is trusted as the sealing key is: whoever can write it can
// make the server serve signatures that do not validate (not forge
// valid ones). It is read with a checksum; a file that does not read
// back whole is ignored (and rewritten by Save).
type SigCache struct {
	path string

	mu     sync.RWMutex
	open   bool            // between Load and Save: looked up and added to
	mapped []byte          // the file, mapped
	table  []byte          // its entries, sorted by tag
	used   []atomic.Uint64 // bit i: table's entry i was looked up
	made   []sigEntry      // signatures made since Load
	hits   atomic.Uint64
}

// sigEntry is one signature of the cache: tag is the first 16 bytes of
// SHA-256(key ID, SHA-256(signed data)), sig the 64 bytes of the
// signature (ECDSA P-256 r and s, or Ed25519).
type sigEntry struct {
	tag [16]byte
	sig [64]byte
}

const (
	sigEntrySize  = 16 + 64
	sigCacheMagic = "cadastre-signatures-1\n"
)

// NewSigCache returns the cache kept at path; nothing is read until
// Load.
func NewSigCache(path string) *SigCache { return &SigCache{path: path} }

// Path is the file the cache is kept in.
func (c *SigCache) Path() string { return c.path }

// Load opens the cache: with the file read (a missing one is an empty
// cache), builds look their signatures up and add those they make, until
// Save. It returns the signatures the file holds. A file that does not
// read back whole is an error; the cache is open and empty then.
func (c *SigCache) Load() (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mapped != nil {
		syscall.Munmap(c.mapped)
	}
	c.open, c.mapped, c.table, c.used, c.made = true, nil, nil, nil, nil
	f, err := os.Open(c.path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("signature cache: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("signature cache: %w", err)
	}
	size := st.Size()
	head := int64(len(sigCacheMagic) + 8)
	if size < head+sha256.Size {
		return 0, fmt.Errorf("signature cache %s: %d bytes, not a cache file", c.path, size)
	}
	// Mapped, not read into the heap: at 10M names it is ~400 MB that
	// the garbage collector would count (and pace the heap by) for the
	// few seconds of the first build.
	m, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return 0, fmt.Errorf("signature cache %s: map: %w", c.path, err)
	}
	n := binary.BigEndian.Uint64(m[len(sigCacheMagic):head])
	body := m[:size-sha256.Size]
	if string(m[:len(sigCacheMagic)]) != sigCacheMagic || n > uint64(size) || head+int64(n)*sigEntrySize+sha256.Size != size {
		syscall.Munmap(m)
		return 0, fmt.Errorf("signature cache %s: not a cache file of this version, or cut short", c.path)
	}
	if sum := sha256.Sum256(body); !bytes.Equal(sum[:], m[size-sha256.Size:]) {
		syscall.Munmap(m)
		return 0, fmt.Errorf("signature cache %s: checksum does not match", c.path)
	}
	c.mapped, c.table = m, m[head:size-sha256.Size]
	c.used = make([]atomic.Uint64, (n+63)/64)
	return int(n), nil
}

// lookup sets sig to the signature tag names, if the open cache has it.
func (c *SigCache) lookup(tag *[16]byte, sig *[64]byte) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if !c.open || len(c.table) == 0 {
		return false
	}
	n := len(c.table) / sigEntrySize
	lo, hi := 0, n
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if bytes.Compare(c.table[mid*sigEntrySize:mid*sigEntrySize+16], tag[:]) < 0 {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == n || !bytes.Equal(c.table[lo*sigEntrySize:lo*sigEntrySize+16], tag[:]) {
		return false
	}
	copy(sig[:], c.table[lo*sigEntrySize+16:(lo+1)*sigEntrySize])
	c.used[lo/64].Or(1 << (lo % 64))
	c.hits.Add(1)
	return true
}

// add keeps a signature made while the cache is open.
func (c *SigCache) add(tag *[16]byte, sig *[64]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open {
		c.made = append(c.made, sigEntry{*tag, *sig})
	}
}

// Hits is how many signatures builds found in the cache since Load.
func (c *SigCache) Hits() uint64 { return c.hits.Load() }

// Save writes the signatures used since Load (found or made) to the file,
// in place of what it held (a new file renamed over it), and closes the
// cache. It returns how many it wrote.
func (c *SigCache) Save() (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.open {
		return 0, nil
	}
	mapped, table, used, made := c.mapped, c.table, c.used, c.made
	c.open, c.mapped, c.table, c.used, c.made = false, nil, nil, nil, nil
	if mapped != nil {
		defer syscall.Munmap(mapped)
	}
	slices.SortFunc(made, func(a, b sigEntry) int { return bytes.Compare(a.tag[:], b.tag[:]) })
	made = slices.CompactFunc(made, func(a, b sigEntry) bool { return a.tag == b.tag })
	// A signature made was looked up first and not found: the table's
	// entries used and those made are apart.
	n := len(made)
	for i := range used {
		n += bits.OnesCount64(used[i].Load())
	}
	tmp, err := os.CreateTemp(filepath.Dir(c.path), "."+filepath.Base(c.path)+".*")
	if err != nil {
		return 0, fmt.Errorf("signature cache: %w", err)
	}
	defer os.Remove(tmp.Name()) // gone once renamed
	h := sha256.New()
	w := bufio.NewWriterSize(io.MultiWriter(tmp, h), 1<<20)
	w.WriteString(sigCacheMagic)
	binary.Write(w, binary.BigEndian, uint64(n))
	var buf [sigEntrySize]byte
	putMade := func(e sigEntry) {
		copy(buf[:16], e.tag[:])
		copy(buf[16:], e.sig[:])
		w.Write(buf[:])
	}
	j := 0
	for i := 0; i < len(table)/sigEntrySize; i++ {
		if used[i/64].Load()&(1<<(i%64)) == 0 {
			continue
		}
		e := table[i*sigEntrySize : (i+1)*sigEntrySize]
		for ; j < len(made) && bytes.Compare(made[j].tag[:], e[:16]) < 0; j++ {
			putMade(made[j])
		}
		w.Write(e)
	}
	for ; j < len(made); j++ {
		putMade(made[j])
	}
	err = w.Flush()
	if err == nil {
		_, err = tmp.Write(h.Sum(nil))
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), c.path)
	}
	if err != nil {
		return 0, fmt.Errorf("signature cache: %w", err)
	}
	return n, nil
}

// digestTag is the cache's tag of the signature of the signed data
// whose SHA-256 is digest, by the key whose ID is id (sigKeyID).
func digestTag(id *[32]byte, digest *[32]byte) (tag [16]byte) {
	var b [64]byte
	copy(b[:32], id[:])
	copy(b[32:], digest[:])
	sum := sha256.Sum256(b[:])
	copy(tag[:], sum[:16])
	return tag
}

// sigKeyID names a signing key in the cache: the digest of its DNSKEY
// RDATA (flags, protocol, algorithm, public key) and owner, so that two
// keys that share a tag, or one key of two zones, never share entries.
func sigKeyID(k activeKey) [32]byte {
	return sha256.Sum256([]byte(fmt.Sprintf("%s %d %d %d %s", k.dnskey.Hdr.Name, k.dnskey.Flags, k.dnskey.Protocol, k.dnskey.Algorithm, k.dnskey.PublicKey)))
}
