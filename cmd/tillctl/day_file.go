package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/tillgate/tillgate/node/adminapi"
)

// Errors of the file and reconcile verbs. Both exit 1; they are sentinels
// so that a caller embedding the commands can tell them from a failure to
// talk to the cluster.
var (
	// errChecksum: the bytes received do not hash to the checksum the log
	// records.
	errChecksum = errors.New("settlement file checksum mismatch")
	// errNotReconciled: the reconciliation ran and found blocking
	// discrepancies.
	errNotReconciled = errors.New("not reconciled")
)

// fetchedFile is what day file reports (-o json).
type fetchedFile struct {
	Day      string `json:"day"`
	Acquirer string `json:"acquirer"`
	Format   string `json:"format"`
	Path     string `json:"path"`
	Bytes    int    `json:"bytes"`
	SHA256   string `json:"sha256"`
}

func (c *dayCommand) fetchFile(ctx context.Context, p *pool, day string, f dayFlags) error {
	var d adminapi.Day
	if err := p.read(ctx, func(cl *adminapi.Client) (err error) { d, err = cl.Day(ctx, day); return err }); err != nil {
		return err
	}
	if d.Status != "settled" {
		return fmt.Errorf("day %s is %s: its settlement files exist once it is settled (tillctl day show %s)", day, d.Status, day)
	}
	var body []byte
	var served string
	err := p.read(ctx, func(cl *adminapi.Client) (err error) {
		body, served, err = cl.SettlementFile(ctx, day, f.acquirer, f.format)
		return err
	})
	if err != nil {
		return err
	}
	sum, err := verifyFile(d, f, body, served)
	if err != nil {
		return err
	}
	out := fetchedFile{Day: day, Acquirer: f.acquirer, Format: f.format, Path: f.out, Bytes: len(body), SHA256: sum}
	if out.Path == "" {
		out.Path = day + "-" + f.acquirer + "." + f.format
	}
	if out.Path == "-" {
		if _, err := c.g.out.Write(body); err != nil {
			return err
		}
		fmt.Fprintf(stderrOf(c.g), "%s %s.%s: %d bytes to stdout, sha256 %s (matches the log)\n", day, f.acquirer, f.format, len(body), sum)
		return nil
	}
	if err := writeFileAtomic(out.Path, body); err != nil {
		return err
	}
	if c.g.output == "json" {
		return c.g.json(out)
	}
	_, err = fmt.Fprintf(c.g.out, "wrote %s (%d bytes)\nsha256 %s (matches the log)\n", out.Path, len(body), sum)
	return err
}

// verifyFile checks body against the checksum the day's record holds, and
// against the one the serving node sent; it returns the checksum. A file
// whose checksum is not recorded yet is checked against the serving node's
// alone.
func verifyFile(d adminapi.Day, f dayFlags, body []byte, served string) (string, error) {
	h := sha256.Sum256(body)
	got := hex.EncodeToString(h[:])
	want := ""
	for _, x := range d.Files {
		if x.Acquirer == f.acquirer {
			want = x.CSVSHA256
			if f.format == "json" {
				want = x.JSONSHA256
			}
		}
	}
	if want == "" {
		want = served
	}
	name := fmt.Sprintf("%s %s.%s", d.Day, f.acquirer, f.format)
	switch {
	case want == "":
		return "", fmt.Errorf("%s: no checksum recorded in the log yet, so the file cannot be verified; the active records it just after the day settles: retry in a few seconds", name)
	case served != "" && served != want:
		return "", fmt.Errorf("%w: %s: the node served it as %s but the day's record has %s; nothing written (retry with another --endpoints node and compare tillctl status)", errChecksum, name, served, want)
	case got != want:
		return "", fmt.Errorf("%w: %s: received %d bytes hashing to %s, the log records %s; nothing written (a proxy or the network altered it: retry, or fetch from another node)", errChecksum, name, len(body), got, want)
	}
	return got, nil
}

// writeFileAtomic writes path through a synced temporary file beside it,
// so that a file at path is always complete.
func writeFileAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".partial*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Sync()
	}
	if err = errors.Join(err, tmp.Close()); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func (c *dayCommand) reconcile(ctx context.Context, p *pool, day string, f dayFlags) error {
	acqFile, err := readInput(f.file)
	if err != nil {
		return err
	}
	// The matching runs on a standby when one answers (it is heavy, and
	// any node has the same settled day); the active records the outcome.
	var r adminapi.Reconciled
	if cl := p.standby(ctx); cl != nil {
		r, err = cl.Reconcile(ctx, day, f.acquirer, acqFile)
	} else {
		err = p.read(ctx, func(cl *adminapi.Client) (err error) {
			r, err = cl.Reconcile(ctx, day, f.acquirer, acqFile)
			return err
		})
	}
	if err != nil {
		return err
	}
	if !r.Recorded {
		err = p.write(ctx, func(cl *adminapi.Client) error {
			_, err := cl.RecordReconciliation(ctx, day, r)
			return err
		})
		if err != nil {
			return fmt.Errorf("the reconciliation ran but its outcome is not recorded: %w", err)
		}
	}
	report := []byte(r.ReportText)
	if c.g.output == "json" {
		report = r.Report
	}
	if _, err := c.g.out.Write(report); err != nil {
		return err
	}
	if !bytes.HasSuffix(report, []byte("\n")) {
		fmt.Fprintln(c.g.out)
	}
	if !r.Reconciled {
		return fmt.Errorf("%w: day %s with %s: %d blocking discrepancies (the report above lists them; the active also wrote it to <settlement dir>/%s/%s.reconciliation.txt; docs/settlement.md says what each kind means)",
			errNotReconciled, day, f.acquirer, r.Discrepancies, day, f.acquirer)
	}
	return nil
}

// readInput reads a file, or stdin for "-".
func readInput(path string) ([]byte, error) {
	if path == "-" {
		b, err := io.ReadAll(os.Stdin)
		if err != nil {
			return nil, fmt.Errorf("reading stdin: %w", err)
		}
		return b, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--file: %w (want the acquirer's settlement CSV, e.g. from acqsim settlement -o FILE)", err)
	}
	return b, nil
}
