package businessday

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"

	"github.com/tillgate/tillgate/settle"
	"github.com/tillgate/tillgate/store"
)

// rendering is a day's files being rendered into dir: per acquirer a pair
// of temporary files, hashed as they stream.
type rendering struct {
	day   *store.Day
	dir   string
	files map[string]*fileOut // by acquirer
}

// fileOut is one acquirer's pair of files being written.
type fileOut struct {
	r           *Rendered
	w           *settle.Writer
	csvF, jsonF *os.File
	csvH, jsonH hash.Hash
	csvB, jsonB *bufio.Writer
}

// open returns acq's files, creating them on first use.
func (g *rendering) open(acq string) (*fileOut, error) {
	if o := g.files[acq]; o != nil {
		return o, nil
	}
	o := &fileOut{r: &Rendered{Acquirer: acq}, csvH: sha256.New(), jsonH: sha256.New()}
	var err error
	if o.csvF, err = os.CreateTemp(g.dir, renderPrefix+acq+".csv*"); err != nil {
		return nil, fmt.Errorf("node: settlement file: %w", err)
	}
	o.r.CSVPath = o.csvF.Name()
	g.files[acq] = o
	if o.jsonF, err = os.CreateTemp(g.dir, renderPrefix+acq+".json*"); err != nil {
		return nil, fmt.Errorf("node: settlement file: %w", err)
	}
	o.r.JSONPath = o.jsonF.Name()
	o.csvB = bufio.NewWriterSize(io.MultiWriter(o.csvF, o.csvH), 64<<10)
	o.jsonB = bufio.NewWriterSize(io.MultiWriter(o.jsonF, o.jsonH), 64<<10)
	o.w, err = settle.NewWriter(o.csvB, o.jsonB, fileHead(g.day, acq))
	return o, err
}

// finish writes the trailers, flushes and syncs every file and returns
// them with their checksums; on an error it removes them all.
func (g *rendering) finish() (map[string]*Rendered, error) {
	res := make(map[string]*Rendered, len(g.files))
	for acq, o := range g.files {
		err := errors.Join(o.w.Close(), o.csvB.Flush(), o.jsonB.Flush(), o.csvF.Sync(), o.jsonF.Sync())
		if err != nil {
			g.remove()
			return nil, fmt.Errorf("node: settlement %s %s: %w", g.day.Day, acq, err)
		}
		o.r.CSVSHA, o.r.JSONSHA = hex.EncodeToString(o.csvH.Sum(nil)), hex.EncodeToString(o.jsonH.Sum(nil))
		o.r.Trailer = o.w.Trailer()
		res[acq] = o.r
	}
	for _, o := range g.files {
		o.csvF.Close()
		o.jsonF.Close()
	}
	return res, nil
}

// remove closes and deletes every file.
func (g *rendering) remove() {
	for _, o := range g.files {
		o.csvF.Close()
		o.jsonF.Close()
		o.r.Remove()
	}
}
