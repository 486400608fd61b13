package admin

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/tillgate/tillgate/node/adminapi"
	"github.com/tillgate/tillgate/store"
)

// MerchantState is what the merchant endpoints read: store.Store.
type MerchantState interface {
	Merchants() ([]*store.Merchant, error)
	MerchantWebhook(merchant string) (*store.Webhook, error)
	WebhookEvents(merchant string, limit int) ([]*store.WebhookEvent, error)
}

// merchantOpTimeout bounds the commit of a new merchant.
const merchantOpTimeout = 10 * time.Second

func (s *Server) merchants(w http.ResponseWriter, _ *http.Request) {
	ms, err := s.cfg.State.Merchants()
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, adminapi.Error{Error: err.Error()})
		return
	}
	out := adminapi.Merchants{Merchants: make([]adminapi.Merchant, 0, len(ms))}
	for _, m := range ms {
		am := apiMerchant(m)
		if h, err := s.cfg.State.MerchantWebhook(m.ID); err == nil && h != nil {
			am.Webhook = h.URL
			evs, _ := s.cfg.State.WebhookEvents(m.ID, maxQueuedShown)
			am.WebhookQueued = len(evs)
		}
		out.Merchants = append(out.Merchants, am)
	}
	writeJSON(w, http.StatusOK, out)
}

// addMerchant records a card-not-present merchant with its first API key
// (its SHA-256: the key itself never reaches the node).
func (s *Server) addMerchant(w http.ResponseWriter, r *http.Request) {
	var req adminapi.MerchantAdd
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<12))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		badParam(w, "body", fmt.Sprintf(`want JSON {"id", "name", "key_name", "key_sha256"}: %v`, err))
		return
	}
	hash, err := hex.DecodeString(req.KeyHash)
	switch {
	case !store.ValidMerchantID(req.ID):
		badParam(w, "id", "want 1-32 of A-Z a-z 0-9 _ -")
		return
	case len(req.Name) > 64:
		badParam(w, "name", "at most 64 bytes")
		return
	case err != nil || len(hash) != 32:
		badParam(w, "key_sha256", "want the key's SHA-256 as 64 hex characters")
		return
	case req.KeyName == "" || len(req.KeyName) > 64:
		badParam(w, "key_name", "want a name of 1-64 bytes for the key")
		return
	}
	ctx, cancel, ok := s.activeOnly(w, r, merchantOpTimeout)
	if !ok {
		return
	}
	defer cancel()
	res, err := s.cfg.Raft.Apply(ctx, store.MerchantAddCmd(store.Merchant{
		ID: req.ID, Name: req.Name, Keys: []store.APIKey{{Name: req.KeyName, Hash: hash}}, At: time.Now().UnixNano(),
	}))
	sr, _ := res.(store.Result)
	switch {
	case err != nil:
		s.writeRaftError(w, err)
	case errors.Is(sr.Err, store.ErrConflict):
		writeJSON(w, http.StatusConflict, adminapi.Error{Error: sr.Err.Error(), Param: "id", Hint: "pick another merchant id or key: tillctl merchant list"})
	case sr.Err != nil || sr.Merchant == nil:
		writeJSON(w, http.StatusBadRequest, adminapi.Error{Error: fmt.Sprint(sr.Err)})
	default:
		writeJSON(w, http.StatusOK, apiMerchant(sr.Merchant))
	}
}

func apiMerchant(m *store.Merchant) adminapi.Merchant {
	out := adminapi.Merchant{ID: m.ID, Name: m.Name, Terminal: m.Terminal, MID: m.MID, Keys: []string{}, CreatedAt: time.Unix(0, m.At).UTC()}
	for _, k := range m.Keys {
		out.Keys = append(out.Keys, k.Name)
	}
	return out
}

// maxQueuedShown bounds the count of queued events GET /merchants shows
// per merchant (the metric tillgate_webhook_queue_depth has the total).
const maxQueuedShown = 10_000

// setWebhook sets or removes a merchant's webhook.
func (s *Server) setWebhook(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var req adminapi.MerchantWebhook
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<13))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		badParam(w, "body", fmt.Sprintf(`want JSON {"url", "secret"}: %v`, err))
		return
	}
	switch {
	case !store.ValidMerchantID(id):
		badParam(w, "id", "want 1-32 of A-Z a-z 0-9 _ -")
		return
	case req.URL != "" && store.ValidWebhookURL(req.URL) != "":
		badParam(w, "url", "want "+store.ValidWebhookURL(req.URL))
		return
	case req.URL != "" && (len(req.Secret) < 16 || len(req.Secret) > 256):
		badParam(w, "secret", "want a secret of 16 to 256 bytes (tillctl merchant webhook makes one)")
		return
	}
	ctx, cancel, ok := s.activeOnly(w, r, merchantOpTimeout)
	if !ok {
		return
	}
	defer cancel()
	res, err := s.cfg.Raft.Apply(ctx, store.MerchantWebhookCmd(store.Webhook{Merchant: id, URL: req.URL, Secret: req.Secret, At: time.Now().UnixNano()}))
	sr, _ := res.(store.Result)
	switch {
	case err != nil:
		s.writeRaftError(w, err)
	case errors.Is(sr.Err, store.ErrNotFound):
		writeJSON(w, http.StatusNotFound, adminapi.Error{Error: sr.Err.Error(), Param: "id", Hint: "tillctl merchant list"})
	case sr.Err != nil:
		writeJSON(w, http.StatusBadRequest, adminapi.Error{Error: sr.Err.Error()})
	default:
		ms, err := s.cfg.State.Merchants()
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, adminapi.Error{Error: err.Error()})
			return
		}
		for _, m := range ms {
			if m.ID == id {
				am := apiMerchant(m)
				am.Webhook = req.URL
				writeJSON(w, http.StatusOK, am)
				return
			}
		}
		writeJSON(w, http.StatusNotFound, adminapi.Error{Error: "merchant " + id + " is gone"})
	}
}
