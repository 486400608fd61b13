package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/bits"
)

// checkPages walks the page graph of a bbolt file the way bbolt would, but
// without trusting it: bbolt follows page ids, element offsets and counts
// as written, so a snapshot or backup from outside (FuzzRestore and
// FuzzAppliedIndexOf found both) can send it into an endless descent (a
// branch page naming itself: memory grows until the process dies), past
// the mapping (SIGBUS) or into a freelist that crashes the read-write
// reopen. No recover() helps there: the loop never panics, and the reopen
// runs in bbolt's own code after the swap. So before bbolt opens a file
// from outside, every page reachable from the meta page bbolt would choose
// is checked here once: in bounds, of the right type, referenced once,
// its elements inside it, nested buckets (inline ones too) likewise, and
// the freelist's ids inside the file and on no reachable page. A file
// that passes is one bbolt can walk to its end; whether what it holds is
// a state of this schema is checkStateFile's question.
//
// The layout is bbolt's (v1.4, internal/common): a 16-byte page header
// (id, flags, count, overflow), 16-byte branch and leaf elements, the
// meta after the header of pages 0 and 1, FNV-64a over the meta.
func checkPages(r io.ReaderAt, size int64) error {
	w := pageWalker{r: r, size: size, seen: map[uint64]bool{}}
	m, err := w.meta()
	if err != nil {
		return err
	}
	w.hwm = m.pgid
	if m.pgid < 2 || m.pgid > uint64(size/w.pageSize) {
		return fmt.Errorf("snapshot truncated or corrupt: its meta claims %d pages of %d bytes, the file has %d bytes", m.pgid, w.pageSize, size)
	}
	w.seen[0], w.seen[1] = true, true
	freed := map[uint64]bool{}
	if m.freelist != noFreelist {
		if freed, err = w.freelist(m.freelist); err != nil {
			return err
		}
	}
	if err := w.bucket(m.root, nil, 0); err != nil {
		return err
	}
	for id := range freed {
		if w.seen[id] {
			return fmt.Errorf("snapshot is corrupt: page %d is both free and in use", id)
		}
	}
	return nil
}

const (
	pageHeaderSize  = 16
	pageElementSize = 16 // branch and leaf elements alike
	branchPageFlag  = 0x01
	leafPageFlag    = 0x02
	freelistFlag    = 0x10
	bucketLeafFlag  = 0x01
	boltMagic       = 0xED0CDAED
	boltVersion     = 2
	noFreelist      = ^uint64(0)
	// maxPageDepth bounds the descent: a real tree of this state is a few
	// levels deep per bucket, and buckets nest two or three deep.
	maxPageDepth = 64
)

type boltMeta struct {
	pageSize       uint32
	root, freelist uint64
	pgid, txid     uint64
}

type pageWalker struct {
	r        io.ReaderAt
	size     int64
	pageSize int64
	hwm      uint64 // pages at or above are beyond the file's end
	seen     map[uint64]bool
}

// meta returns the meta page bbolt would use: of the two, the one with the
// higher transaction id if it is valid, else the other. The page size
// comes from page 0, as bbolt's does (page 1's own field is not read).
func (w *pageWalker) meta() (boltMeta, error) {
	m0, err0 := w.readMeta(0)
	if err0 == nil {
		if ps := m0.pageSize; ps < 512 || ps > 1<<16 || bits.OnesCount32(ps) != 1 {
			err0 = fmt.Errorf("page size %d", ps)
		}
	}
	if err0 != nil {
		return boltMeta{}, fmt.Errorf("snapshot is not a state file: meta page 0: %w", err0)
	}
	w.pageSize = int64(m0.pageSize)
	if m1, err1 := w.readMeta(w.pageSize); err1 == nil && m1.txid > m0.txid {
		return m1, nil
	}
	return m0, nil
}

func (w *pageWalker) readMeta(off int64) (boltMeta, error) {
	b := make([]byte, pageHeaderSize+64)
	if _, err := w.r.ReadAt(b, off); err != nil {
		return boltMeta{}, fmt.Errorf("read: %w", err)
	}
	m := b[pageHeaderSize:]
	le := binary.LittleEndian
	if le.Uint32(m[0:]) != boltMagic {
		return boltMeta{}, errors.New("not a bbolt file (magic)")
	}
	if v := le.Uint32(m[4:]); v != boltVersion {
		return boltMeta{}, fmt.Errorf("bbolt version %d, want %d", v, boltVersion)
	}
	h := fnv.New64a()
	h.Write(m[:56])
	if h.Sum64() != le.Uint64(m[56:]) {
		return boltMeta{}, errors.New("checksum mismatch")
	}
	meta := boltMeta{
		pageSize: le.Uint32(m[8:]),
		root:     le.Uint64(m[16:]), // InBucket.root; the sequence follows
		freelist: le.Uint64(m[32:]),
		pgid:     le.Uint64(m[40:]),
		txid:     le.Uint64(m[48:]),
	}
	return meta, nil
}

// page reads page id and its overflow pages, after checking they lie in
// the file and were not reached before.
func (w *pageWalker) page(id uint64) ([]byte, error) {
	if id < 2 || id >= w.hwm {
		return nil, fmt.Errorf("snapshot is corrupt: page %d is outside the file's %d pages", id, w.hwm)
	}
	hdr := make([]byte, pageHeaderSize)
	if _, err := w.r.ReadAt(hdr, int64(id)*w.pageSize); err != nil {
		return nil, fmt.Errorf("snapshot is corrupt: page %d: %w", id, err)
	}
	overflow := uint64(binary.LittleEndian.Uint32(hdr[12:]))
	if got := binary.LittleEndian.Uint64(hdr); got != id {
		return nil, fmt.Errorf("snapshot is corrupt: page %d says it is page %d", id, got)
	}
	if id+overflow >= w.hwm {
		return nil, fmt.Errorf("snapshot is corrupt: page %d overflows past the file's %d pages", id, w.hwm)
	}
	for i := id; i <= id+overflow; i++ {
		if w.seen[i] {
			return nil, fmt.Errorf("snapshot is corrupt: page %d is referenced twice", i)
		}
		w.seen[i] = true
	}
	b := make([]byte, int64(overflow+1)*w.pageSize)
	if _, err := w.r.ReadAt(b, int64(id)*w.pageSize); err != nil {
		return nil, fmt.Errorf("snapshot is corrupt: page %d: %w", id, err)
	}
	return b, nil
}

func (w *pageWalker) freelist(id uint64) (map[uint64]bool, error) {
	b, err := w.page(id)
	if err != nil {
		return nil, err
	}
	if flags := binary.LittleEndian.Uint16(b[8:]); flags != freelistFlag {
		return nil, fmt.Errorf("snapshot is corrupt: freelist page %d has flags %#x", id, flags)
	}
	ids := b[pageHeaderSize:]
	n := uint64(binary.LittleEndian.Uint16(b[10:]))
	if n == 0xFFFF { // the real count leads the ids
		if len(ids) < 8 {
			return nil, fmt.Errorf("snapshot is corrupt: freelist page %d is cut short", id)
		}
		n, ids = binary.LittleEndian.Uint64(ids), ids[8:]
	}
	if n > uint64(len(ids))/8 {
		return nil, fmt.Errorf("snapshot is corrupt: freelist page %d claims %d ids, has room for %d", id, n, len(ids)/8)
	}
	freed := make(map[uint64]bool, n)
	for i := range n {
		f := binary.LittleEndian.Uint64(ids[8*i:])
		if f < 2 || f >= w.hwm || freed[f] {
			return nil, fmt.Errorf("snapshot is corrupt: freelist page %d lists page %d (outside the file or twice)", id, f)
		}
		freed[f] = true
	}
	return freed, nil
}

// bucket checks the tree of a bucket whose root is page root, or, for an
// inline bucket (root 0), the leaf page inline holds.
func (w *pageWalker) bucket(root uint64, inline []byte, depth int) error {
	if root != 0 {
		return w.tree(root, depth)
	}
	return w.nodes(inline, "an inline bucket", depth)
}

func (w *pageWalker) tree(id uint64, depth int) error {
	if depth > maxPageDepth {
		return fmt.Errorf("snapshot is corrupt: pages nest deeper than %d at page %d", maxPageDepth, id)
	}
	b, err := w.page(id)
	if err != nil {
		return err
	}
	return w.nodes(b, fmt.Sprintf("page %d", id), depth)
}

// nodes checks the elements of the branch or leaf page b (a whole page,
// or an inline bucket's bytes) and descends into what they name.
func (w *pageWalker) nodes(b []byte, what string, depth int) error {
	if len(b) < pageHeaderSize {
		return fmt.Errorf("snapshot is corrupt: %s is cut short", what)
	}
	le := binary.LittleEndian
	flags, count := le.Uint16(b[8:]), int(le.Uint16(b[10:]))
	switch {
	case flags != branchPageFlag && flags != leafPageFlag:
		// bbolt takes any page without the leaf bit for a branch.
		return fmt.Errorf("snapshot is corrupt: %s has flags %#x, neither branch nor leaf", what, flags)
	case flags == branchPageFlag && count == 0:
		// A cursor would read a child id past the page's end.
		return fmt.Errorf("snapshot is corrupt: %s is a branch without elements", what)
	}
	if pageHeaderSize+count*pageElementSize > len(b) {
		return fmt.Errorf("snapshot is corrupt: %s has %d elements, room for %d", what, count, (len(b)-pageHeaderSize)/pageElementSize)
	}
	for i := range count {
		at := pageHeaderSize + i*pageElementSize
		e := b[at : at+pageElementSize]
		if flags == branchPageFlag {
			pos, ksize := uint64(le.Uint32(e[0:])), uint64(le.Uint32(e[4:]))
			if uint64(at)+pos+ksize > uint64(len(b)) {
				return fmt.Errorf("snapshot is corrupt: %s: element %d's key lies outside it", what, i)
			}
			if err := w.tree(le.Uint64(e[8:]), depth+1); err != nil {
				return err
			}
			continue
		}
		eflags, pos := le.Uint32(e[0:]), uint64(le.Uint32(e[4:]))
		ksize, vsize := uint64(le.Uint32(e[8:])), uint64(le.Uint32(e[12:]))
		start := uint64(at) + pos + ksize
		if start+vsize > uint64(len(b)) {
			return fmt.Errorf("snapshot is corrupt: %s: element %d lies outside it", what, i)
		}
		if eflags&bucketLeafFlag == 0 {
			continue
		}
		v := b[start : start+vsize]
		if len(v) < 16 {
			return fmt.Errorf("snapshot is corrupt: %s: bucket element %d is cut short", what, i)
		}
		if err := w.bucket(le.Uint64(v), v[16:], depth+1); err != nil {
			return err
		}
	}
	return nil
}
