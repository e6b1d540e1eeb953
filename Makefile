# pixelgate developer targets. `make test` is the README's test command and
# what CI runs (through .ci/run).
GO ?= go
STATICCHECK_VERSION ?= v0.8.2

.PHONY: demo all build test test-race bench bench-relay bench-pixel screenshots lint fuzz run clean

all: build

build:
	$(GO) build -o bin/pixelgate ./cmd/pixelgate

# Tests that need redis-server or chromium start them on loopback and skip
# with a clear message when the binary is missing (CI installs both).
test:
	$(GO) test -count=1 -timeout 30m ./...

test-race:
	$(GO) test -count=1 -race -timeout 40m ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# Relay throughput against a plain go-smtp pass-through relay in the same run:
# BENCH_N recipients of a 60 KB message at BENCH_C sessions, one and
# ten recipients per transaction, embedded store then
# Redis (skipped with a message when redis-server is missing). Loopback only.
BENCH_N ?= 2000
BENCH_C ?= 4
bench-relay: build
	$(GO) run ./proxy/cmd/bench-relay -pixelgate bin/pixelgate -n $(BENCH_N) -c $(BENCH_C)
	$(GO) run ./proxy/cmd/bench-relay -pixelgate bin/pixelgate -n $(BENCH_N) -c $(BENCH_C) -rcpts 10
	@if command -v redis-server >/dev/null; then \
	  $(GO) run ./proxy/cmd/bench-relay -pixelgate bin/pixelgate -n $(BENCH_N) -c $(BENCH_C) -redis; \
	  $(GO) run ./proxy/cmd/bench-relay -pixelgate bin/pixelgate -n $(BENCH_N) -c $(BENCH_C) -rcpts 10 -redis; \
	else echo "bench-relay: redis-server not installed, Redis runs skipped"; fi

# Pixel endpoint load: /o/{token}.gif with many distinct valid
# tokens against a real redis-server, interleaved with a minimal chi handler
# doing one Redis GET per request; prints req/s, p50, p99 and the ratio.
# Loopback only, bounded by PIXEL_ROUNDS slices of PIXEL_SLICE per handler.
PIXEL_CONNS ?= 64
PIXEL_ROUNDS ?= 12
PIXEL_SLICE ?= 500ms
bench-pixel:
	$(GO) run ./cmd/pixelbench -conns $(PIXEL_CONNS) -rounds $(PIXEL_ROUNDS) -duration $(PIXEL_SLICE)

# Consent page screenshots (docs/screenshots/consent-page-{en,fr,granted-en}.png),
# taken by the headless Chromium test.
screenshots:
	PIXELGATE_SCREENSHOTS=$(CURDIR)/docs/screenshots $(GO) test -count=1 -run TestBrowserConsentFlow/bolt ./web/consentpage/

lint:
	test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

# Short fuzzing pass over every fuzz target (FUZZTIME per target), ending
# with the executions each target ran. Go minimises every new interesting
# input for up to a minute by default, which can take the whole FUZZTIME of
# a slow target and hide a failure behind it; FUZZMINIMIZETIME keeps that
# short, so the time goes to fuzzing and a failure is reported.
FUZZTIME ?= 20s
FUZZMINIMIZETIME ?= 2s
fuzz:
	@log=$$(mktemp); summary=$$(mktemp); trap 'rm -f $$log $$summary' EXIT; \
	for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$f"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) $$pkg >$$log 2>&1; rc=$$?; \
	    cat $$log; \
	    printf '%-60s %s\n' "$$pkg $$f" "$$(grep -o 'execs: [0-9]*' $$log | tail -1)" >>$$summary; \
	    if [ $$rc -ne 0 ]; then echo "FAILED: $$pkg $$f"; cat $$summary; exit 1; fi; \
	  done; \
	done; \
	echo "executions per target in $(FUZZTIME):"; cat $$summary

# Redis with AOF and pixelgate from local binaries, no container engine
# needed (messages go to the outbox instead of Mailpit). Ports on 127.0.0.1:
#   make demo DEMO_HTTP_PORT=8081 DEMO_SMTP_PORT=2526 DEMO_REDIS_PORT=6390
# Data and secrets go to DEMO_DIR (default ./demo, git-ignored).
DEMO_HTTP_PORT ?= 8080
DEMO_SMTP_PORT ?= 2525
DEMO_REDIS_PORT ?=
demo:
	DEMO_HTTP_PORT='$(DEMO_HTTP_PORT)' DEMO_SMTP_PORT='$(DEMO_SMTP_PORT)' DEMO_REDIS_PORT='$(DEMO_REDIS_PORT)' bash scripts/demo.sh

run:
	$(GO) run ./cmd/pixelgate serve

clean:
	rm -rf bin
