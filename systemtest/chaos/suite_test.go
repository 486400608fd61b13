//go:build chaos

package chaos

import "testing"

// The whole suite (make chaos): one test per scenario of issue 17 (the
// scenarios are bench.ChaosScenarios), each under 200 registers in closed
// loop with 100 ms of think time; cuts heal after 10 s, a failed disk is
// cleared and its node restarted after 10 s, flapping lasts a minute.

const registers = 200

// TestActiveCut: the active's Raft traffic dropped both ways, its register
// port still reachable; a new active is elected and the registers move.
func TestActiveCut(t *testing.T) {
	run(t, scenario{name: "active-cut", registers: registers})
}

// TestFollowerCut: a follower's Raft traffic dropped both ways; the active
// keeps its quorum.
func TestFollowerCut(t *testing.T) {
	run(t, scenario{name: "follower-cut", registers: registers})
}

// TestActivePeerCut: the active cut off from one follower only; it keeps
// its quorum through the other.
func TestActivePeerCut(t *testing.T) {
	run(t, scenario{name: "active-peer-cut", registers: registers})
}

// TestActiveNoReceive: one-way, the active can send but not receive (the
// connections its peers open to it are dropped).
func TestActiveNoReceive(t *testing.T) {
	run(t, scenario{name: "active-no-receive", registers: registers})
}

// TestActiveNoSend: one-way, the active can receive but not send (the
// connections it opens to its peers are dropped).
func TestActiveNoSend(t *testing.T) {
	run(t, scenario{name: "active-no-send", registers: registers})
}

// TestFlapping: whichever node is the active cut off and healed every
// 2-3 s for a minute.
func TestFlapping(t *testing.T) {
	run(t, scenario{name: "flapping", registers: registers})
}

// TestRegistersCut: the registers cut off from the active only; it stays
// leader, healthy for its peers, and serves them through the standbys.
func TestRegistersCut(t *testing.T) {
	run(t, scenario{name: "registers-cut", registers: registers})
}

// TestAcquirerOneNode: the acquirer reachable from one follower only.
func TestAcquirerOneNode(t *testing.T) {
	run(t, scenario{name: "acquirer-one-node", registers: registers})
}

// TestDiskFull: the active's data dir (a tmpfs) fills up; the node stops,
// the others carry on, and once the disk has room again the node restarts
// and catches up from its peers.
func TestDiskFull(t *testing.T) {
	run(t, scenario{name: "disk-full", registers: registers})
}

// TestStateEIO: every state file commit of the active fails with EIO.
func TestStateEIO(t *testing.T) {
	run(t, scenario{name: "state-eio", registers: registers})
}

// TestRaftLogEIO: every Raft log write of the active fails with EIO.
func TestRaftLogEIO(t *testing.T) {
	run(t, scenario{name: "raftlog-eio", registers: registers})
}
