package node

import "net/http"

// statusPageRoutes serves the operator's status page on the admin port.
func (n *Node) statusPageRoutes(mux *http.ServeMux) {}
