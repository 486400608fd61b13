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
	"time"

	"github.com/tillgate/tillgate/node/adminapi"
	"github.com/tillgate/tillgate/node/internal/commit"
	"github.com/tillgate/tillgate/store"
)

// KeyState is what the card key endpoints read: store.Store.
type KeyState interface {
	CardKeys() store.KeyState
	SealedRecords() (map[uint8]int64, error)
}

// Vault is this node's card key ring: store.Vault.
type Vault interface {
	Loaded() map[uint8]string
	Check(id uint8) (string, bool)
	HashCheck() string
	Reload() error
}

func (s *Server) keyRoutes(m *router) {
	m.HandleFunc("GET /keys", s.keys)
	m.write("POST /keys/rotate", "key.rotate", s.rotateKey, bodyParams("id"))
	m.write("POST /keys/retire", "key.retire", s.retireKey, bodyParams("id"))
}

// keys is GET /keys. It reads the key directory again first, so that an
// operator sees a key just added.
func (s *Server) keys(w http.ResponseWriter, r *http.Request) {
	if err := s.cfg.Vault.Reload(); err != nil {
		writeJSON(w, http.StatusInternalServerError, adminapi.Error{Error: err.Error()})
		return
	}
	st, err := s.keyStatus(s.cfg.KeyState.CardKeys())
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, adminapi.Error{Error: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) keyStatus(k store.KeyState) (adminapi.KeyStatus, error) {
	counts, err := s.cfg.KeyState.SealedRecords()
	if err != nil {
		return adminapi.KeyStatus{}, err
	}
	out := adminapi.KeyStatus{Node: s.cfg.NodeID, Sealing: k.Sealing(), LegacyRecords: counts[0],
		HashCheck: s.cfg.Vault.HashCheck(), ClusterHashCheck: k.HashCheck, Resealing: k.Resealing, Cursor: k.Cursor}
	if k.RotatedAt != 0 {
		t := time.Unix(0, k.RotatedAt).UTC()
		out.RotatedAt = &t
	}
	ids := map[uint8]bool{k.Sealing(): true}
	for id := range s.cfg.Vault.Loaded() {
		ids[id] = true
	}
	for id, n := range counts {
		if id != 0 && n > 0 {
			ids[id] = true
		}
	}
	for _, id := range k.Retired {
		ids[id] = true
	}
	for id := range ids {
		check, loaded := s.cfg.Vault.Check(id)
		ck := adminapi.CardKey{ID: id, Check: check, Loaded: loaded, Sealing: id == k.Sealing(),
			Retired: slices.Contains(k.Retired, id), Records: counts[id]}
		if id == 1 {
			ck.Records += counts[0]
		}
		out.Keys = append(out.Keys, ck)
	}
	slices.SortFunc(out.Keys, func(a, b adminapi.CardKey) int { return int(a.ID) - int(b.ID) })
	return out, nil
}

func readKeyChange(w http.ResponseWriter, r *http.Request) (uint8, bool) {
	var c struct {
		ID int `json:"id"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<10)).Decode(&c); err != nil || c.ID < 1 || c.ID > 255 {
		badParam(w, "id", "want a JSON body {\"id\": N}, N the card key's id, 1 to 255")
		return 0, false
	}
	return uint8(c.ID), true
}

// rotateKey is POST /keys/rotate: once every voter holds key id with the
// same check value (asked over their admin APIs with the operator's own
// token), the leader commits it as the key that seals; the re-seal starts.
func (s *Server) rotateKey(w http.ResponseWriter, r *http.Request) {
	id, ok := readKeyChange(w, r)
	if !ok {
		return
	}
	ctx, cancel, ok := s.activeOnly(w, r, adminOpTimeout)
	if !ok {
		return
	}
	defer cancel()
	if err := s.cfg.Vault.Reload(); err != nil {
		writeJSON(w, http.StatusInternalServerError, adminapi.Error{Error: err.Error()})
		return
	}
	check, ok := s.cfg.Vault.Check(id)
	if !ok {
		writeJSON(w, http.StatusConflict, adminapi.Error{Error: fmt.Sprintf("this node (%s) does not hold card key %d", s.cfg.NodeID, id),
			Hint: fmt.Sprintf("write %d.key (tillgate keygen, or a copy of the same file) into card_key_dir on every node, mode 0600, then rotate again", id)})
		return
	}
	if err := s.peersHold(ctx, r, id, check); err != nil {
		writeJSON(w, http.StatusConflict, adminapi.Error{Error: err.Error(),
			Hint: fmt.Sprintf("every node must hold the same %d.key before it seals: copy the file, mode 0600, and rotate again", id)})
		return
	}
	s.keyCommand(ctx, w, store.KeyCmd{Action: store.KeyRotate, ID: id, Check: check, HashCheck: s.cfg.Vault.HashCheck(), At: s.cfg.Days.Now().UnixNano()})
}

// retireKey is POST /keys/retire: refused while a record is sealed under
// the key.
func (s *Server) retireKey(w http.ResponseWriter, r *http.Request) {
	id, ok := readKeyChange(w, r)
	if !ok {
		return
	}
	ctx, cancel, ok := s.activeOnly(w, r, adminOpTimeout)
	if !ok {
		return
	}
	defer cancel()
	s.keyCommand(ctx, w, store.KeyCmd{Action: store.KeyRetire, ID: id, At: s.cfg.Days.Now().UnixNano()})
}

// peersHold asks every other voter whether it holds key id with check.
func (s *Server) peersHold(ctx context.Context, r *http.Request, id uint8, check string) error {
	missing := s.askPeers(r, true, func(peer string, c *adminapi.Client) string {
		st, err := c.Keys(ctx)
		if err != nil {
			return fmt.Sprintf("%s: %v", peer, err)
		}
		var has string
		for _, k := range st.Keys {
			if k.ID == id {
				has = k.Check
			}
		}
		switch {
		case has == "":
			return fmt.Sprintf("%s: does not hold key %d", peer, id)
		case has != check:
			return fmt.Sprintf("%s: holds another key %d (check %s, here %s)", peer, id, has, check)
		case st.HashCheck != s.cfg.Vault.HashCheck():
			return fmt.Sprintf("%s: another hash key (card_key_file differs)", peer)
		}
		return ""
	})
	if len(missing) > 0 {
		return fmt.Errorf("card key %d not made current: %s", id, strings.Join(missing, "; "))
	}
	return nil
}

// keyCommand commits c and answers the keys' status after it.
func (s *Server) keyCommand(ctx context.Context, w http.ResponseWriter, c store.KeyCmd) {
	res, err := s.cfg.Raft.Apply(ctx, store.KeyCmdOf(c))
	if err != nil {
		s.writeRaftError(w, err)
		return
	}
	if err := commit.Err(res); err != nil {
		code := http.StatusInternalServerError
		switch {
		case errors.Is(err, store.ErrInvalid):
			code = http.StatusBadRequest
		case errors.Is(err, store.ErrDayBusy), errors.Is(err, store.ErrKeyRetired), errors.Is(err, store.ErrMismatch):
			code = http.StatusConflict
		}
		writeJSON(w, code, adminapi.Error{Error: err.Error(), Hint: "tillctl key status shows which key seals and the records under each"})
		return
	}
	st, err := s.keyStatus(*res.(store.Result).Keys)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, adminapi.Error{Error: err.Error()})
		return
	}
	s.log.Info("card key", "action", c.Action, "key", c.ID, "sealing", st.Sealing)
	writeJSON(w, http.StatusOK, st)
}
