package settle

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Writer writes one File as CSV and JSON at once, row by row, so that a day
// of a million rows never has to be held in memory: the trailer is summed
// as the rows go by. Add the rows in Seq order, then Close. The bytes are
// those of WriteCSV and WriteJSON for the same File.
type Writer struct {
	head   File // without rows
	csv    *csv.Writer
	json   *bufio.Writer
	row    bytes.Buffer
	enc    *json.Encoder
	trail  Trailer
	prev   uint64
	n      int
	closed bool
}

// NewWriter starts the files of head (its Rows are ignored) on csvOut and
// jsonOut.
func NewWriter(csvOut, jsonOut io.Writer, head *File) (*Writer, error) {
	w := &Writer{head: *head, csv: csv.NewWriter(csvOut), json: bufio.NewWriterSize(jsonOut, 64<<10)}
	w.head.Rows = nil
	w.enc = json.NewEncoder(&w.row)
	w.enc.SetEscapeHTML(false)
	w.csv.Write(strings.Split(Columns, ","))
	h, err := json.Marshal(struct {
		Day      string `json:"day"`
		Acquirer string `json:"acquirer"`
		OpenedAt string `json:"opened_at"`
		ClosedAt string `json:"closed_at"`
		Index    uint64 `json:"index"`
	}{head.Day, head.Acquirer, stamp(head.OpenedAt), stamp(head.ClosedAt), head.Index})
	if err != nil {
		return nil, fmt.Errorf("settle: write json: %w", err)
	}
	// {"day":..,"index":N} without its closing brace, each key on a line.
	w.json.WriteString("{\n  ")
	w.json.Write(bytes.ReplaceAll(h[1:len(h)-1], []byte(`,"`), []byte(",\n  \"")))
	w.json.WriteString(",\n  \"rows\":[")
	return w, nil
}

// Add writes one row; a row that does not validate (see File.Validate) is
// refused and nothing of it is written.
func (w *Writer) Add(r *Row) error {
	if err := r.validate(w.prev, w.n); err != nil {
		return fmt.Errorf("%w: row %d (seq %d, rrn %q): %w", ErrInvalid, w.n+1, r.Seq, r.RRN, err)
	}
	w.row.Reset()
	if err := w.enc.Encode(r.json()); err != nil {
		return fmt.Errorf("settle: write json row %d: %w", w.n+1, err)
	}
	if w.n > 0 {
		w.json.WriteByte(',')
	}
	w.json.WriteString("\n    ")
	w.json.Write(bytes.TrimSuffix(w.row.Bytes(), []byte("\n")))
	w.csv.Write(r.fields())
	w.trail.add(r)
	w.prev, w.n = r.Seq, w.n+1
	return nil
}

// Close writes both trailers and flushes.
func (w *Writer) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	line := []string{trailerTag, w.head.Day, w.head.Acquirer, stamp(w.head.OpenedAt), stamp(w.head.ClosedAt), strconv.FormatUint(w.head.Index, 10)}
	for _, tf := range w.trail.fields() {
		line = append(line, itoa(*tf.v))
	}
	w.csv.Write(line)
	w.csv.Flush()
	if err := w.csv.Error(); err != nil {
		return fmt.Errorf("settle: write csv: %w", err)
	}
	if w.n > 0 {
		w.json.WriteString("\n  ")
	}
	tr, err := json.Marshal(w.trail)
	if err != nil {
		return fmt.Errorf("settle: write json: %w", err)
	}
	w.json.WriteString("],\n  \"trailer\":")
	w.json.Write(tr)
	w.json.WriteString("\n}\n")
	if err := w.json.Flush(); err != nil {
		return fmt.Errorf("settle: write json: %w", err)
	}
	return nil
}

// Trailer is the trailer of the rows added so far.
func (w *Writer) Trailer() Trailer { return w.trail }

// Rows is how many rows were added.
func (w *Writer) Rows() int { return w.n }
