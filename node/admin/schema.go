package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/tillgate/tillgate/node/adminapi"
	"github.com/tillgate/tillgate/node/internal/commit"
	"github.com/tillgate/tillgate/store"
)

// SchemaState is the state file's schema: store.Store.
type SchemaState interface {
	Schema() (current string, known []string, err error)
}

func (s *Server) schemaRoutes(m *router) {
	m.HandleFunc("GET /schema", s.schema)
	m.write("POST /schema/upgrade", "schema.upgrade", s.upgradeSchema, bodyParams("version"))
}

// schema is GET /schema.
func (s *Server) schema(w http.ResponseWriter, _ *http.Request) {
	st, err := s.schemaStatus()
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, adminapi.Error{Error: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) schemaStatus() (adminapi.Schema, error) {
	if s.cfg.SchemaState == nil {
		return adminapi.Schema{}, errors.New("admin: this node has no schema state")
	}
	cur, known, err := s.cfg.SchemaState.Schema()
	return adminapi.Schema{Node: s.cfg.NodeID, Current: cur, Known: known}, err
}

// upgradeSchema is POST /schema/upgrade: it commits the conversion
// (store.SchemaCmd) once every server's binary knows the version. A node
// whose binary does not would refuse the command and go on writing the old
// layout, and its state would differ from the others' from then on.
func (s *Server) upgradeSchema(w http.ResponseWriter, r *http.Request) {
	var c adminapi.SchemaChange
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<10)).Decode(&c); err != nil || c.Version == "" {
		badParam(w, "version", "want a JSON body {\"version\": \"5\"}")
		return
	}
	ctx, cancel, ok := s.activeOnly(w, r, adminOpTimeout)
	if !ok {
		return
	}
	defer cancel()
	if err := s.peersKnowSchema(ctx, r, c.Version); err != nil {
		writeJSON(w, http.StatusConflict, adminapi.Error{Error: err.Error(),
			Hint: "upgrade every node's binary first (tillctl schema on each shows what it knows), then again"})
		return
	}
	res, err := s.cfg.Raft.Apply(ctx, store.SchemaCmd(c.Version))
	if err != nil {
		s.writeRaftError(w, err)
		return
	}
	if err := commit.Err(res); err != nil {
		code := http.StatusInternalServerError
		if errors.Is(err, store.ErrInvalid) {
			code = http.StatusBadRequest
		}
		writeJSON(w, code, adminapi.Error{Error: err.Error()})
		return
	}
	st, err := s.schemaStatus()
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, adminapi.Error{Error: err.Error()})
		return
	}
	s.log.Info("state schema", "version", c.Version, "existed", res.(store.Result).Existed)
	writeJSON(w, http.StatusOK, st)
}

// peersKnowSchema asks every other server of the configuration whether
// its binary knows version (this node's must too). Non-voters too: they
// apply the same log, and one that refused the op would go on writing the
// old layout.
func (s *Server) peersKnowSchema(ctx context.Context, r *http.Request, version string) error {
	st, err := s.schemaStatus()
	if err != nil {
		return err
	}
	var missing []string
	if !slices.Contains(st.Known, version) {
		missing = append(missing, fmt.Sprintf("%s (this node): knows %v", s.cfg.NodeID, st.Known))
	}
	missing = append(missing, s.askPeers(r, false, func(id string, c *adminapi.Client) string {
		ps, err := c.Schema(ctx)
		switch {
		case err != nil:
			return fmt.Sprintf("%s: %v", id, err)
		case !slices.Contains(ps.Known, version):
			return fmt.Sprintf("%s: knows %v", id, ps.Known)
		}
		return ""
	})...)
	if len(missing) > 0 {
		return fmt.Errorf("schema %s not committed: %s", version, strings.Join(missing, "; "))
	}
	return nil
}
