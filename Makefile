GO      ?= go
FUZZTIME ?= 30s
SEEDS   ?= 20

.PHONY: build test fuzz verify demo bench sim clean

build:
	$(GO) build -o bin/ ./cmd/...

# The whole suite, then bounded fuzz runs of the wire decoder, the frame
# decoder (arbitrary bytes in arbitrary chunks) and the
# state machine's command decoder.
test:
	$(GO) test -count=1 -timeout 40m ./...
	$(MAKE) fuzz FUZZTIME=$(FUZZTIME)

fuzz:
	$(GO) test ./wire -run '^$$' -fuzz FuzzDecode -fuzztime $(FUZZTIME)
	$(GO) test ./wire -run '^$$' -fuzz FuzzFrameDecoder -fuzztime $(FUZZTIME) -fuzzminimizetime 2s
	$(GO) test ./store -run '^$$' -fuzz FuzzDecodeCommand -fuzztime $(FUZZTIME)

verify:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@cp go.mod /tmp/tillgate.go.mod.bak; cp go.sum /tmp/tillgate.go.sum.bak; \
	$(GO) mod tidy; \
	if ! git diff --quiet -- go.mod go.sum; then echo "go mod tidy changes go.mod/go.sum: run it and commit"; git --no-pager diff -- go.mod go.sum; \
	  cp /tmp/tillgate.go.mod.bak go.mod; cp /tmp/tillgate.go.sum.bak go.sum; exit 1; fi
	./scripts/depcheck.sh

demo:
	$(GO) run ./cmd/tillgate demo --cutover-every 1m

# Codec, state machine and Raft commit path, then the end-to-end figure
# (2,000 registers against 3 in-process nodes and the acquirer simulator).
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./wire ./store ./cluster
	$(GO) test -run '^$$' -bench EndToEnd -benchtime 40000x ./systemtest

# The randomized fault simulation's long tier (simulation/; `go test
# ./simulation` is its short tier, inside `make test`): SEEDS seeds, one
# after another; SEED=n replays one, SIM_DURATION sets the load per seed,
# SIM_ARTIFACTS where failing seeds keep their history and logs. The test
# binary runs the tier itself, so that its last line is the summary
# `sim: S seeds, F faults, T transactions, V violations`.
sim:
	$(GO) test -c -o bin/simulation.test ./simulation
	SIM_TIER=long SEEDS=$(SEEDS) bin/simulation.test

clean:
	rm -rf bin
