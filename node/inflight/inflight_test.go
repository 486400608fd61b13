package inflight

import "testing"

func TestJoinMakesRepeatsWait(t *testing.T) {
	f := New()
	c1, owner := f.Join("k")
	c2, owner2 := f.Join("k")
	if !owner || owner2 || c1 != c2 {
		t.Fatalf("second join must wait on the first call")
	}
	f.Finish("k", c1, nil)
	select {
	case <-c2.Done():
	default:
		t.Fatal("waiter not woken")
	}
	if _, owner := f.Join("k"); !owner {
		t.Fatal("a finished key must be free again")
	}
}
