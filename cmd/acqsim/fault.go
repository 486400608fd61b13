package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/tillgate/tillgate/acquirer/sim"
)

// faultJSON is sim.Fault on the admin API: durations as Go strings.
type faultJSON struct {
	Down         bool   `json:"down"`
	ExtraLatency string `json:"extra_latency,omitempty"`
	DropAnswers  bool   `json:"drop_answers,omitempty"`
	DropPercent  int    `json:"drop_percent,omitempty"`
	Late         string `json:"late,omitempty"`
	Duplicate    bool   `json:"duplicate,omitempty"`
}

func toFaultJSON(f sim.Fault) faultJSON {
	j := faultJSON{Down: f.Down, DropAnswers: f.DropAnswers, DropPercent: f.DropPercent, Duplicate: f.Duplicate}
	if f.ExtraLatency > 0 {
		j.ExtraLatency = f.ExtraLatency.String()
	}
	if f.Late > 0 {
		j.Late = f.Late.String()
	}
	return j
}

func (j faultJSON) fault() (sim.Fault, error) {
	f := sim.Fault{Down: j.Down, DropAnswers: j.DropAnswers, DropPercent: j.DropPercent, Duplicate: j.Duplicate}
	var err error
	if f.ExtraLatency, err = optDuration(j.ExtraLatency); err != nil {
		return f, fmt.Errorf("extra_latency: %w", err)
	}
	if f.Late, err = optDuration(j.Late); err != nil {
		return f, fmt.Errorf("late: %w", err)
	}
	return f, f.Validate()
}

func optDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	return time.ParseDuration(s)
}

// faultHandlers serve GET and PUT /fault and POST /disconnect.
func faultHandlers(mux *http.ServeMux, s *sim.Sim, log *slog.Logger) {
	mux.HandleFunc("GET /fault", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, log, toFaultJSON(s.Fault()), nil)
	})
	mux.HandleFunc("PUT /fault", func(w http.ResponseWriter, r *http.Request) {
		var j faultJSON
		dec := json.NewDecoder(io.LimitReader(r.Body, 4096))
		dec.DisallowUnknownFields()
		err := dec.Decode(&j)
		var f sim.Fault
		if err == nil {
			f, err = j.fault()
		}
		if err == nil {
			err = s.SetFault(f)
		}
		if err != nil {
			log.Warn("fault refused", "err", err)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, log, toFaultJSON(s.Fault()), nil)
	})
	mux.HandleFunc("POST /disconnect", func(w http.ResponseWriter, _ *http.Request) {
		s.Disconnect()
		writeJSON(w, log, map[string]string{"status": "disconnected"}, nil)
	})
}

type faultCommand struct {
	out io.Writer
}

func (c *faultCommand) Usage() string {
	return `usage: acqsim fault --admin ADDR [flags]

Changes a running simulator's behaviour through its admin API (PUT /fault)
and prints the fault now in force. The flags given make up the whole new
fault: 'acqsim fault --admin ADDR' with no other flag clears it.
--disconnect closes every open connection once (POST /disconnect) and
leaves the fault as it is.

`
}

func (c *faultCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("fault", flag.ContinueOnError)
	var (
		admin      = fs.String("admin", "127.0.0.1:9584", "the simulator's admin address")
		down       = fs.Bool("down", false, "close every connection and refuse new ones")
		slow       = fs.Duration("slow", 0, "added latency before each answer is decided")
		drop       = fs.Int("drop", 0, "drop this percentage (0-100) of answers, after recording them")
		late       = fs.Duration("late", 0, "record at once but hold each answer this long")
		duplicate  = fs.Bool("duplicate", false, "send every answer twice")
		disconnect = fs.Bool("disconnect", false, "close every open connection once instead")
	)
	fs.Usage = func() { fmt.Fprint(os.Stderr, c.Usage()); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return errUsage
	}
	base := "http://" + *admin
	if *disconnect {
		return c.call(ctx, http.MethodPost, base+"/disconnect", nil)
	}
	j := toFaultJSON(sim.Fault{Down: *down, ExtraLatency: *slow, DropPercent: *drop, Late: *late, Duplicate: *duplicate})
	if _, err := j.fault(); err != nil {
		return err
	}
	body, err := json.Marshal(j)
	if err != nil {
		return err
	}
	return c.call(ctx, http.MethodPut, base+"/fault", body)
}

func (c *faultCommand) call(ctx context.Context, method, url string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("fault: %w", err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		return fmt.Errorf("fault: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return errors.New("fault: " + resp.Status + ": " + string(bytes.TrimSpace(out)))
	}
	_, err = c.out.Write(out)
	return err
}
