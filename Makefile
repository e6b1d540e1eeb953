# pixelgate developer targets. `make test` is the README's test command and
# what CI runs (through .ci/run).
GO ?= go
STATICCHECK_VERSION ?= 2026.2.2

.PHONY: all build test test-race bench lint fuzz run clean

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

lint:
	test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

# Short fuzzing pass over every fuzz target (FUZZTIME per target).
FUZZTIME ?= 20s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

run:
	$(GO) run ./cmd/pixelgate serve

clean:
	rm -rf bin
