# usertcp: one command each. See README.md.
GO      ?= go
PKGS    := ./...
BIN     := bin/usertcp

.PHONY: build test test-short demo bench lint integration fuzz clean

build:
	$(GO) build -o $(BIN) ./cmd/usertcp

# The whole suite, race detector on. Tests that need root or a tool that is
# missing say so and skip. The integration packages (real erl, kernel TCP
# over TAP, the fault soak) run one at a time after the rest: they compare
# timings with real programs and must not compete for the CPU.
UNIT_PKGS = $(shell $(GO) list ./... | grep -v /integration/)
test:
	$(GO) test -race -count=1 -timeout 20m $(UNIT_PKGS)
	$(GO) test -race -count=1 -timeout 20m -p 1 ./integration/...

test-short:
	$(GO) test -count=1 -short $(PKGS)

demo:
	$(GO) run ./cmd/usertcp demo

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

# Tests across real boundaries (TAP in a network namespace, kernel TCP,
# real erl, curl, nc, socat, the usertcp command). Needs root for TAP;
# without it those tests skip and print why (with CI set, they fail). Each
# test makes its own namespace with scripts/tapns.sh; the last step checks
# that none is left behind.
integration:
	$(GO) test -race -count=1 -timeout 20m -v ./integration/...
	scripts/tapns.sh leftovers usertcp-t

# Run each fuzz target for FUZZTIME (default 10m).
FUZZTIME ?= 10m
fuzz:
	scripts/fuzz.sh $(FUZZTIME)

clean:
	rm -rf bin
