package settle

import (
	"bytes"
	"os"
	"reflect"
	"strings"
	"testing"
)

// fuzzSeed adds the golden file at path and a few cuts of it.
func fuzzSeed(f *testing.F, path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(b[:len(b)/2])
	if i := bytes.LastIndex(b, []byte("TRAILER")); i > 0 {
		f.Add(b[:i])                                               // no trailer
		f.Add(append(bytes.Clone(b), "x,y\n"...))                  // data after the trailer
		f.Add(bytes.Replace(b, []byte("1000"), []byte("1001"), 1)) // trailer mismatch
	}
}

// FuzzReadCSV: ReadCSV never panics, and a file it accepts validates and
// writes back to bytes that read to the same File (what the node writes
// is what a reader gets back, whatever quoting or time zone the input had).
func FuzzReadCSV(f *testing.F) {
	fuzzSeed(f, "testdata/day.csv")
	f.Add([]byte(Columns + "\nTRAILER,20260314,acq,,,0,0,0,0,0,0,0,0,0,0,0\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := ReadCSV(bytes.NewReader(in))
		if err != nil {
			if got != nil {
				t.Fatalf("ReadCSV returned a file with error %v", err)
			}
			return
		}
		if err := got.Validate(); err != nil {
			t.Fatalf("ReadCSV accepted a file that does not validate: %v", err)
		}
		var out bytes.Buffer
		if err := WriteCSV(&out, got); err != nil {
			t.Fatalf("WriteCSV of what ReadCSV accepted: %v", err)
		}
		again, err := ReadCSV(&out)
		if err != nil {
			t.Fatalf("ReadCSV of WriteCSV's output: %v\n%s", err, out.String())
		}
		if !reflect.DeepEqual(got, again) {
			t.Fatalf("round trip differs:\nfirst  %+v\nsecond %+v", got, again)
		}
	})
}

// FuzzReadAcquirerCSV: the acquirer's file (acqsim's export, the shared
// golden testdata/acquirer.csv) never panics the reader, and what it
// accepts has only known statuses and a trailer that matches the rows.
func FuzzReadAcquirerCSV(f *testing.F) {
	fuzzSeed(f, "testdata/acquirer.csv")
	f.Add([]byte(AcquirerColumns + "\nTRAILER,0,0,0,0,,\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := ReadAcquirerCSV(bytes.NewReader(in))
		if err != nil {
			if got != nil {
				t.Fatalf("ReadAcquirerCSV returned a file with error %v", err)
			}
			if !strings.HasPrefix(err.Error(), "settle: ") {
				t.Fatalf("error without context: %v", err)
			}
			return
		}
		for i, r := range got.Rows {
			if r.Status != StatusApproved && r.Status != StatusReversed {
				t.Fatalf("row %d accepted with status %q", i, r.Status)
			}
		}
		// Reconcile must take whatever the reader accepts.
		Reconcile(Input{Theirs: got})
	})
}
