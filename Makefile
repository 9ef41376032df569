# policypush: the two set-up commands are `make demo` and `make test`.
GO          ?= go
BIN         := $(CURDIR)/bin
GOTESTFLAGS ?=
# staticcheck 2026.2.2
STATICCHECK_VERSION := v0.8.2

.PHONY: all build test test-short bench lint rules-lint rules-test demo clean browser fuzz

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/...

## test: unit and integration tests under the race detector, then the rule
## catalogue's own tests. It installs headless Chromium first if it is missing.
test: build browser
	$(GO) test -race -count=1 $(GOTESTFLAGS) ./...
	$(BIN)/policyctl lint rules/
	$(BIN)/policyctl test rules/

## browser: headless Chromium for the console's browser tests, and a Chinese
## font (without one every Chinese character renders as a box), from Debian's
## packages when missing (sudo only when not root).
browser:
	@pkgs=; \
	{ command -v chromium || command -v chromium-browser || command -v google-chrome; } >/dev/null || pkgs=" chromium"; \
	[ -n "$$(fc-list :lang=zh 2>/dev/null)" ] || pkgs="$$pkgs fonts-wqy-microhei"; \
	if [ -n "$$pkgs" ]; then \
		echo "installing$$pkgs from Debian's packages"; \
		sudo=; [ "$$(id -u)" -eq 0 ] || sudo=sudo; \
		$$sudo apt-get update -q && \
		$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$pkgs; \
	fi

## test-short: skips the slow tests.
test-short:
	$(GO) test -short -count=1 ./...

## bench: the benchmarks whose figures BENCHMARKS.md records, into
## bench.out; then each target of issue 16 beside its baseline from the same
## run (benchreport fails when a benchmark failed).
bench:
	@rm -f bench.out
	$(GO) test -run '^$$' -bench 'Catalogue$$|RawExpr' -benchmem -count 5 ./internal/rules/ 2>&1 | tee -a bench.out
	$(GO) test -run '^$$' -bench 'Policy' -benchmem -count 1 ./internal/rules/ 2>&1 | tee -a bench.out
	$(GO) test -run '^$$' -bench . -benchtime 20000x -count 3 ./internal/app/ 2>&1 | tee -a bench.out
	POLICYPUSH_BENCH_PROFILES=1000000 $(GO) test -run '^$$' -bench Backfill -benchtime 1x -timeout 60m ./internal/sweep/ 2>&1 | tee -a bench.out
	$(GO) run ./internal/benchreport < bench.out

## lint: go vet, staticcheck (installed from the module proxy) and gofmt.
lint: $(BIN)/staticcheck
	$(GO) vet ./...
	$(BIN)/staticcheck ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

$(BIN)/staticcheck:
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

rules-lint: build
	$(BIN)/policyctl lint rules/

rules-test: build
	$(BIN)/policyctl test rules/

## demo: the showcase, on embedded defaults (needs only PostgreSQL); it
## stops after its summary. `make demo DEMO_FLAGS=` keeps serving the
## console, metrics and API until Ctrl-C.
DEMO_FLAGS ?= --exit
demo: build
	$(BIN)/policypush demo $(DEMO_FLAGS)

clean:
	rm -rf $(BIN)

## fuzz: each fuzz target for FUZZTIME; `make test` runs their corpora
## (testdata/fuzz) only. New failing inputs land in testdata/fuzz too.
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeEnvelope$$' -fuzztime $(FUZZTIME) ./internal/profile/
	$(GO) test -run '^$$' -fuzz '^FuzzValidateProfile$$' -fuzztime $(FUZZTIME) ./internal/profile/
	$(GO) test -run '^$$' -fuzz '^FuzzApplyPatch$$' -fuzztime $(FUZZTIME) ./internal/profile/
	$(GO) test -run '^$$' -fuzz '^FuzzReasonsNeverEchoValues$$' -fuzztime $(FUZZTIME) ./internal/profile/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeValid$$' -fuzztime $(FUZZTIME) ./internal/profile/
	$(GO) test -run '^$$' -fuzz '^FuzzMergeSealed$$' -fuzztime $(FUZZTIME) ./internal/store/
