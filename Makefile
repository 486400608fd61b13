GO      ?= go
FUZZTIME ?= 30s

.PHONY: build test fuzz verify demo bench clean

build:
	$(GO) build -o bin/ ./cmd/...

# The whole suite, then a bounded fuzz run of the wire decoder.
test:
	$(GO) test -count=1 -timeout 40m ./...
	$(MAKE) fuzz FUZZTIME=$(FUZZTIME)

fuzz:
	$(GO) test ./wire -run '^$$' -fuzz FuzzDecode -fuzztime $(FUZZTIME)

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

clean:
	rm -rf bin
