package chaos

import (
	"testing"
	"time"
)

// TestActiveCutShort is the scenario CI runs (inside `make test`): the
// active's Raft traffic dropped both ways for 3 s under a small load, the
// registers still reaching every node. A new active is elected, every
// register resumes on it, and the checker finds nothing wrong once the
// cut heals.
func TestActiveCutShort(t *testing.T) {
	res := run(t, scenario{name: "active-cut", registers: 50, hold: 3 * time.Second})
	for _, r := range res.Resume {
		if r.Elections == 0 {
			t.Errorf("%s on %s: no election", r.Kind, r.Target)
		}
	}
}
