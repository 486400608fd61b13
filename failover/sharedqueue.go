package failover

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"slices"
	"sync"
)

// SharedQueue is one store-and-forward queue file for the clients of many
// simulated registers in one process (a load-test fleet; Config.SharedQueue).
// A real register has its own disk and keeps its own bbolt file
// (Config.ReversalQueue): 2,000 registers on one box, each committing its
// own file twice per request, spent more CPU on bbolt than the cluster's
// active spent on the transaction.
//
// The queues live in memory, which is the authority while the process
// runs; the file is their journal: every change is appended as a record,
// and the changes of every register that arrive while one write is under
// way go out together in the next (group commit), so a fleet pays one
// write syscall for many registers' entries. A change returns only once
// its record is written: the write-ahead still precedes the request's
// bytes. Like QueueNoSync, nothing is fsync'd: the queues survive a crash
// of the process (the page cache has the file), not of the machine. Open
// replays the journal (a torn last record, from a crash mid-write, ends
// it) and rewrites it as a snapshot of the queues; so does a journal grown
// past compactAt.
//
// A write that fails breaks the store: that change and every later one
// fail (the clients answer ErrNotSent, or treat a failed removal as
// failover's DESIGN.md says), and what was written stays for the next Open.
type SharedQueue struct {
	path string

	mu      sync.Mutex
	cond    *sync.Cond // written moved, or failed
	f       *os.File
	regs    map[string]*sharedReg
	lastID  uint64 // ids are global, so each register's are in arrival order
	buf     []byte // records of batch, not yet written
	spare   []byte
	batch   uint64 // the batch buf collects
	written uint64 // batches below it are written
	failed  uint64 // with err: batches from it failed
	err     error
	size    int64 // bytes in the file
	closed  bool

	kick chan struct{} // buf has records
	stop chan struct{}
	done chan struct{} // the writer ended
}

// compactAt is the journal size past which it is rewritten as a snapshot:
// a fleet's live entries are a few hundred KiB, each transaction appends
// about a KiB.
const compactAt = 64 << 20

// sharedReg is one register's queue.
type sharedReg struct {
	entries map[uint64][]byte // id → entry JSON; never modified in place
	keys    map[string]uint64 // message identity → id
	stan    uint32
	hasSTAN bool
	inUse   bool
}

// Journal record ops.
const (
	opPut    = 'P' // id, identity key, entry JSON
	opDelete = 'D' // id, identity key
	opSTAN   = 'S' // id is the first STAN after the reserved block
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// OpenSharedQueue opens (or creates) the shared queue file at path and
// replays it.
func OpenSharedQueue(path string) (*SharedQueue, error) {
	s := &SharedQueue{path: path, regs: make(map[string]*sharedReg),
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	s.cond = sync.NewCond(&s.mu)
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("failover: shared queue %s: %w", path, err)
	}
	if err := s.replay(b); err != nil {
		return nil, fmt.Errorf("failover: shared queue %s: %w", path, err)
	}
	if err := s.snapshot(); err != nil {
		return nil, err
	}
	go s.writer()
	return s, nil
}

// Close writes what is pending and closes the file. The clients using it
// must be closed first.
func (s *SharedQueue) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return errors.Join(s.err, s.f.Close())
}

// store returns the queue of the register named name; one client at a time.
func (s *SharedQueue) store(name string) (store, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("%w: shared queue %s is closed", ErrConfig, s.path)
	}
	r := s.reg(name)
	if r.inUse {
		return nil, fmt.Errorf("%w: queue %q of shared queue %s is open in another client", ErrConfig, name, s.path)
	}
	r.inUse = true
	return &sharedStore{s: s, name: name, r: r}, nil
}

func (s *SharedQueue) reg(name string) *sharedReg {
	r := s.regs[name]
	if r == nil {
		r = &sharedReg{entries: make(map[uint64][]byte), keys: make(map[string]uint64)}
		s.regs[name] = r
	}
	return r
}

// writer writes the pending records, one write per wake: whatever arrived
// during a write goes in the next.
func (s *SharedQueue) writer() {
	defer close(s.done)
	for {
		select {
		case <-s.kick:
			s.flush()
		case <-s.stop:
			s.flush()
			return
		}
	}
}

func (s *SharedQueue) flush() {
	s.mu.Lock()
	if len(s.buf) == 0 || s.err != nil {
		s.mu.Unlock()
		return
	}
	b, batch := s.buf, s.batch
	s.buf, s.spare, s.batch = s.spare[:0], nil, batch+1
	s.mu.Unlock()
	_, err := s.f.Write(b)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.spare = b
	s.size += int64(len(b))
	if err != nil {
		s.fail(batch, fmt.Errorf("failover: shared queue %s: write: %w", s.path, err))
	} else {
		s.written = batch + 1
	}
	if s.err == nil && s.size > compactAt {
		// Under the lock: the snapshot includes the changes of the batch
		// collecting now, which is then written too.
		if err := s.snapshot(); err != nil {
			s.fail(s.batch, err)
		} else {
			s.buf, s.batch = s.buf[:0], s.batch+1
			s.written = s.batch
		}
	}
	s.cond.Broadcast()
}

func (s *SharedQueue) fail(from uint64, err error) {
	if s.err == nil {
		s.failed, s.err = from, err
	}
}

// append adds a record to the pending batch and returns the batch; the
// caller holds mu and then waits for it.
func (s *SharedQueue) append(op byte, name string, id uint64, key string, v []byte) uint64 {
	body := make([]byte, 0, 1+3*binary.MaxVarintLen64+len(name)+len(key)+len(v))
	body = append(body, op)
	body = binary.AppendUvarint(body, uint64(len(name)))
	body = append(body, name...)
	body = binary.AppendUvarint(body, id)
	body = binary.AppendUvarint(body, uint64(len(key)))
	body = append(body, key...)
	body = append(body, v...)
	s.buf = binary.AppendUvarint(s.buf, uint64(len(body)))
	s.buf = binary.BigEndian.AppendUint32(s.buf, crc32.Checksum(body, crcTable))
	s.buf = append(s.buf, body...)
	return s.batch
}

// wait returns once batch is written, or its error.
func (s *SharedQueue) wait(batch uint64) error {
	select {
	case s.kick <- struct{}{}:
	default:
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.written <= batch && (s.err == nil || batch < s.failed) {
		s.cond.Wait()
	}
	if s.err != nil && batch >= s.failed {
		return s.err
	}
	return nil
}

// usable reports why no change can be made; mu held.
func (s *SharedQueue) usable() error {
	if s.err != nil {
		return s.err
	}
	if s.closed {
		return fmt.Errorf("failover: shared queue %s is closed", s.path)
	}
	return nil
}

// replay applies the journal's records; a short or damaged record ends it
// (a crash mid-write): what follows is dropped by the snapshot.
func (s *SharedQueue) replay(b []byte) error {
	for len(b) > 0 {
		n, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < 4+n {
			return nil
		}
		crc := binary.BigEndian.Uint32(b[k:])
		body := b[k+4 : k+4+int(n)]
		if crc32.Checksum(body, crcTable) != crc {
			return nil
		}
		if err := s.apply(body); err != nil {
			return err
		}
		b = b[k+4+int(n):]
	}
	return nil
}

func (s *SharedQueue) apply(body []byte) error {
	op, name, id, key, v, err := parseRecord(body)
	if err != nil {
		return err
	}
	r := s.reg(name)
	switch op {
	case opPut:
		r.entries[id], r.keys[key] = v, id
		s.lastID = max(s.lastID, id)
	case opDelete:
		delete(r.entries, id)
		if r.keys[key] == id {
			delete(r.keys, key)
		}
	case opSTAN:
		r.stan, r.hasSTAN = uint32(id), true
	default:
		return fmt.Errorf("record op %q", op)
	}
	return nil
}

func parseRecord(b []byte) (op byte, name string, id uint64, key string, v []byte, err error) {
	bad := errors.New("malformed record")
	if len(b) < 1 {
		return 0, "", 0, "", nil, bad
	}
	op, b = b[0], b[1:]
	str := func() (string, bool) {
		n, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < n {
			return "", false
		}
		out := string(b[k : k+int(n)])
		b = b[k+int(n):]
		return out, true
	}
	var ok bool
	if name, ok = str(); !ok {
		return 0, "", 0, "", nil, bad
	}
	id, k := binary.Uvarint(b)
	if k <= 0 {
		return 0, "", 0, "", nil, bad
	}
	b = b[k:]
	if key, ok = str(); !ok {
		return 0, "", 0, "", nil, bad
	}
	return op, name, id, key, slices.Clone(b), nil
}

// snapshot rewrites the file as the queues now are (mu held, or before the
// writer starts): a new file renamed over the old.
func (s *SharedQueue) snapshot() error {
	saved := s.buf
	s.buf = nil
	for _, name := range sortedKeys(s.regs) {
		r := s.regs[name]
		if r.hasSTAN {
			s.append(opSTAN, name, uint64(r.stan), "", nil)
		}
		keyOf := make(map[uint64]string, len(r.keys))
		for k, id := range r.keys {
			keyOf[id] = k
		}
		for _, id := range sortedKeys(r.entries) {
			s.append(opPut, name, id, keyOf[id], r.entries[id])
		}
	}
	b := s.buf
	s.buf = saved
	tmp := s.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("failover: shared queue %s: snapshot: %w", s.path, err)
	}
	if err := os.Rename(tmp, s.path); err != nil {
		return fmt.Errorf("failover: shared queue %s: snapshot: %w", s.path, err)
	}
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("failover: shared queue %s: %w", s.path, err)
	}
	if s.f != nil {
		s.f.Close()
	}
	s.f, s.size = f, int64(len(b))
	return nil
}

func sortedKeys[K string | uint64, V any](m map[K]V) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
