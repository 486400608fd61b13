package simulation

import (
	"reflect"
	"testing"
	"time"
)

var testRegisters = []string{"S0000001", "S0000002", "S0000003", "S0000004"}

func TestScheduleSameSeedSameSchedule(t *testing.T) {
	for seed := range uint64(20) {
		a := Schedule(seed, 30*time.Second, testRegisters)
		b := Schedule(seed, 30*time.Second, testRegisters)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("seed %d: two schedules differ:\n%v\n%v", seed, a, b)
		}
	}
	if reflect.DeepEqual(Schedule(1, 30*time.Second, testRegisters), Schedule(2, 30*time.Second, testRegisters)) {
		t.Fatal("seeds 1 and 2 have the same schedule")
	}
}

func TestScheduleFitsTheLoadAndLanesDoNotOverlap(t *testing.T) {
	const load = 30 * time.Second
	for seed := range uint64(50) {
		plan := Schedule(seed, load, testRegisters)
		if len(plan) == 0 {
			t.Fatalf("seed %d: no faults", seed)
		}
		ends := map[string]time.Duration{}
		for i, f := range plan {
			if f.At < 0 || f.For < 0 || f.At+f.For > load*85/100 {
				t.Fatalf("seed %d: %v does not end by 85%% of the load", seed, f)
			}
			if i > 0 && f.At < plan[i-1].At {
				t.Fatalf("seed %d: not in order of start: %v after %v", seed, f, plan[i-1])
			}
			if f.At < ends[f.lane()] {
				t.Fatalf("seed %d: %v overlaps an earlier fault of lane %s", seed, f, f.lane())
			}
			ends[f.lane()] = f.At + f.For
		}
	}
}

// TestScheduleCoversEveryKind: over a few long seeds every kind occurs,
// with parameters in their ranges.
func TestScheduleCoversEveryKind(t *testing.T) {
	seen := map[FaultKind]int{}
	for seed := range uint64(20) {
		for _, f := range Schedule(seed, 60*time.Second, testRegisters) {
			seen[f.Kind]++
			checkParam(t, f)
		}
	}
	for _, k := range allFaults {
		if seen[k] == 0 {
			t.Errorf("no %s in 20 seeds: %v", k, seen)
		}
	}
}

func checkParam(t *testing.T, f Fault) {
	t.Helper()
	ok := true
	switch f.Kind {
	case FaultAcqDrop:
		ok = f.Param >= 10 && f.Param <= 60
	case FaultAcqLate:
		ok = time.Duration(f.Param)*time.Millisecond > acquirerTimeout
	case FaultTransfer:
		ok = f.For == time.Duration(f.Param)*time.Millisecond && f.For < 5*time.Second
	case FaultAcqDisconnect:
		ok = f.For == 0
	case FaultCommitFail:
		ok = f.Target == TargetLeader || f.Target == TargetFollower
	}
	if !ok {
		t.Errorf("%v: parameter out of range", f)
	}
}

// TestScheduleOnly: narrowing a schedule to some kinds keeps their times.
func TestScheduleOnly(t *testing.T) {
	plan := Schedule(3, 30*time.Second, testRegisters)
	kept := only(plan, []FaultKind{FaultLeaderStop, FaultCommitFail})
	var want []Fault
	for _, f := range plan {
		if f.Kind == FaultLeaderStop || f.Kind == FaultCommitFail {
			want = append(want, f)
		}
	}
	if !reflect.DeepEqual(kept, want) || len(kept) == 0 {
		t.Fatalf("only: %v, want %v", kept, want)
	}
	if !reflect.DeepEqual(only(plan, nil), plan) {
		t.Fatal("only with no kinds changed the plan")
	}
}
