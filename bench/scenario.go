package bench

import (
	"fmt"
	"strings"
	"time"

	"github.com/tillgate/tillgate/loadtest"
)

// Scenarios by name. Each sets the load fields of Options left at zero.
const (
	// ScenarioClosed: every register sends, waits, thinks (Think), again.
	ScenarioClosed = "closed"
	// ScenarioOpen: Poisson arrivals at Rate tx/s over idle registers.
	ScenarioOpen = "open"
	// ScenarioLatency: open loop at 2,000 tx/s from 2,000 registers for
	// 60 s, the rate at which the added-latency goal is stated.
	ScenarioLatency = "latency"
	// ScenarioDay: the standard day, 1,000,000 transactions from 2,000
	// registers, open loop following loadtest.DayProfile, peaking at
	// Rate (default 20,000 tx/s), the whole day compressed into the
	// Duration this gives (about 78 s); or, when Duration is set, peaking
	// at the rate that fits the transactions into it.
	ScenarioDay = "day"
)

// Scenarios lists the names in the order of the help text.
var Scenarios = []string{ScenarioClosed, ScenarioOpen, ScenarioLatency, ScenarioDay}

// DayTransactions, DayRegisters and DayPeakRate are the day's defaults.
const (
	DayTransactions = 1_000_000
	DayRegisters    = 2000
	DayPeakRate     = 20000
)

// applyScenario fills the load fields from the scenario.
func (o *Options) applyScenario() error {
	if o.Scenario == "" {
		o.Scenario = ScenarioClosed
		if o.Rate > 0 {
			o.Scenario = ScenarioOpen
		}
	}
	setDefault := func(regs int, dur time.Duration) {
		if o.Registers == 0 {
			o.Registers = regs
		}
		if o.Duration == 0 && o.Transactions == 0 {
			o.Duration = dur
		}
	}
	switch o.Scenario {
	case ScenarioClosed:
		setDefault(2000, time.Minute)
		o.Rate = 0
	case ScenarioOpen:
		setDefault(2000, time.Minute)
		if o.Rate <= 0 {
			o.Rate = 1000
		}
	case ScenarioLatency:
		setDefault(2000, time.Minute)
		if o.Rate <= 0 {
			o.Rate = 2000
		}
	case ScenarioDay:
		o.day()
	default:
		return fmt.Errorf("bench: unknown scenario %q (want one of %s)", o.Scenario, strings.Join(Scenarios, ", "))
	}
	if o.Duration <= 0 {
		// Closed loop with only a transaction count: bound it anyway.
		o.Duration = 24 * time.Hour
	}
	return nil
}

// day sets the day scenario: the profile, and whichever of the peak rate
// and the duration is not given from the other.
func (o *Options) day() {
	o.Profile = loadtest.DayProfile()
	if o.Registers == 0 {
		o.Registers = DayRegisters
	}
	if o.Transactions == 0 {
		o.Transactions = DayTransactions
	}
	mean := o.Profile.MeanFactor()
	switch {
	case o.Duration > 0 && o.Rate > 0:
		// Both given: the transaction count only caps the arrivals.
	case o.Duration > 0:
		o.Rate = float64(o.Transactions) / o.Duration.Seconds() / mean
	default:
		if o.Rate <= 0 {
			o.Rate = DayPeakRate
		}
		o.Duration = time.Duration(float64(o.Transactions) / (o.Rate * mean) * float64(time.Second))
	}
}
