package admin

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/tillgate/tillgate/cluster"
	"github.com/tillgate/tillgate/node/adminapi"
)

// askPeers asks every other server of the configuration (voters only, if
// votersOnly) over its admin API, as the operator of r (their token), and
// collects what each answer says is missing: ask returns "" for a peer
// that is fine. A peer without an admin address or that cannot be asked is
// missing too.
func (s *Server) askPeers(r *http.Request, votersOnly bool, ask func(id string, c *adminapi.Client) string) []string {
	var missing []string
	for _, p := range s.cfg.Raft.Status().Peers {
		if p.ID == s.cfg.NodeID || votersOnly && p.Suffrage != cluster.SuffrageVoter {
			continue
		}
		addr := ""
		if s.cfg.AdminAddrOf != nil {
			addr = s.cfg.AdminAddrOf(p.ID)
		}
		if addr == "" {
			missing = append(missing, fmt.Sprintf("%s: no admin_addr in this node's peers to ask", p.ID))
			continue
		}
		c := s.audit.peerClient(addr)
		c.Token, _ = strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if m := ask(p.ID, c); m != "" {
			missing = append(missing, m)
		}
	}
	return missing
}
