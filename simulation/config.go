package simulation

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Config is a set of seeds to run and how long each runs.
type Config struct {
	// Seeds are run one after another (the box has 2 cores shared with
	// other work: one cluster at a time).
	Seeds []uint64
	// Load is how long registers send traffic under the fault schedule.
	Load time.Duration
	// MinRegisters and MaxRegisters bound the seeded number of registers.
	MinRegisters, MaxRegisters int
	// Settle bounds the end of a seed: drain, batch close and quiescence
	// each get this long before the seed fails with a message saying what
	// was not yet settled.
	Settle time.Duration
	// Artifacts receives, per seed with violations, the history and node
	// logs.
	Artifacts string
	// Faults, if set, keeps only these kinds of the seed's schedule (the
	// others' timings stay as they were): a narrower reproduction.
	Faults []FaultKind
}

// Tiers.
const (
	TierShort = "short" // go test ./simulation: part of make test, CI
	TierLong  = "long"  // make sim
)

// Environment variables read by ConfigFromEnv, and the tier of the
// package's test binary (`make sim` sets SIM_TIER=long; see TestMain).
const (
	EnvTier      = "SIM_TIER"
	EnvSeeds     = "SEEDS"         // how many seeds (long tier default 20)
	EnvSeed      = "SEED"          // run this one seed only
	EnvSeedBase  = "SIM_SEED_BASE" // seeds are base+1 .. base+SEEDS (default 0)
	EnvDuration  = "SIM_DURATION"  // load per seed, a Go duration
	EnvArtifacts = "SIM_ARTIFACTS" // where failing seeds keep their files
	EnvFaults    = "SIM_FAULTS"    // only these fault kinds, comma separated (default all)
	EnvRegisters = "SIM_REGISTERS" // exactly this many registers (default 10-30)
)

// tierDefaults are the per-tier defaults: the short tier must stay well
// under a minute on 2 cores, start-up and settling included.
func tierDefaults(tier string) (seeds int, load time.Duration) {
	if tier == TierLong {
		return 20, 30 * time.Second
	}
	return 2, 8 * time.Second
}

// ConfigFromEnv is the tier's config with the environment's overrides.
func ConfigFromEnv(tier string) (Config, error) {
	n, load := tierDefaults(tier)
	cfg := Config{Load: load, MinRegisters: 10, MaxRegisters: 30, Settle: 90 * time.Second}
	if tier != TierLong {
		cfg.MaxRegisters = 16
		cfg.Settle = 45 * time.Second
	}
	var err error
	if n, err = envInt(EnvSeeds, n); err != nil {
		return cfg, err
	}
	base, err := envInt(EnvSeedBase, 0)
	if err != nil {
		return cfg, err
	}
	if s := os.Getenv(EnvDuration); s != "" {
		if cfg.Load, err = time.ParseDuration(s); err != nil || cfg.Load <= 0 {
			return cfg, fmt.Errorf("simulation: %s=%q: want a positive duration such as 30s", EnvDuration, s)
		}
	}
	if cfg.Seeds, err = seedsFromEnv(n, base); err != nil {
		return cfg, err
	}
	if err := narrowFromEnv(&cfg); err != nil {
		return cfg, err
	}
	cfg.Artifacts = os.Getenv(EnvArtifacts)
	if cfg.Artifacts == "" {
		cfg.Artifacts = filepath.Join(os.TempDir(), "tillgate-sim")
	}
	return cfg, nil
}

// narrowFromEnv applies SIM_FAULTS and SIM_REGISTERS.
func narrowFromEnv(cfg *Config) error {
	if s := os.Getenv(EnvFaults); s != "" {
		for k := range strings.SplitSeq(s, ",") {
			k = strings.TrimSpace(k)
			if !slices.Contains(allFaults, FaultKind(k)) {
				return fmt.Errorf("simulation: %s: unknown fault kind %q (want some of %v)", EnvFaults, k, allFaults)
			}
			cfg.Faults = append(cfg.Faults, FaultKind(k))
		}
	}
	n, err := envInt(EnvRegisters, 0)
	if err != nil || n < 0 {
		return fmt.Errorf("simulation: %s: want a number of registers", EnvRegisters)
	}
	if n > 0 {
		cfg.MinRegisters, cfg.MaxRegisters = n, n
	}
	return nil
}

// replay is the command line that runs seed r of cfg again: the same
// load, registers and fault kinds give the same schedule.
func replay(cfg Config, r *SeedResult) string {
	s := fmt.Sprintf("%s=%d %s=%s %s=%d", EnvSeed, r.Seed, EnvDuration, cfg.Load, EnvRegisters, r.Registers)
	if len(cfg.Faults) > 0 {
		var ks []string
		for _, k := range cfg.Faults {
			ks = append(ks, string(k))
		}
		s += fmt.Sprintf(" %s=%s", EnvFaults, strings.Join(ks, ","))
	}
	return s + " make sim"
}

// seedsFromEnv is SEED alone, or base+1 .. base+n.
func seedsFromEnv(n, base int) ([]uint64, error) {
	if s := os.Getenv(EnvSeed); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("simulation: %s=%q: want a number", EnvSeed, s)
		}
		return []uint64{v}, nil
	}
	if n < 1 || base < 0 {
		return nil, fmt.Errorf("simulation: %s=%d, %s=%d: want at least one seed and a base >= 0", EnvSeeds, n, EnvSeedBase, base)
	}
	seeds := make([]uint64, n)
	for i := range seeds {
		seeds[i] = uint64(base + i + 1)
	}
	return seeds, nil
}

func envInt(name string, def int) (int, error) {
	s := os.Getenv(name)
	if s == "" {
		return def, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("simulation: %s=%q: want a number", name, s)
	}
	return v, nil
}
