package upstream

import "testing"

func TestInFlightCap(t *testing.T) {
	a := &Acquirer{cfg: Config{MaxInFlight: 2}}
	if !a.acquire() || !a.acquire() || a.acquire() {
		t.Fatal("cap of 2 not enforced")
	}
	a.release()
	if !a.acquire() {
		t.Fatal("a released slot is not reusable")
	}
	unlimited := &Acquirer{}
	for range 100 {
		if !unlimited.acquire() {
			t.Fatal("no cap refused a request")
		}
	}
}
