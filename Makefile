# pregen edge. `make run` starts the demo origin and edge; `make test` runs
# the whole suite with the race detector.
GO      ?= go
BIN     := bin
RUN     := .run
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: all build run test check fmt vet lint fuzz soak bench bench-go clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/edge ./cmd/edge
	$(GO) build -trimpath -o $(BIN)/demo-origin ./cmd/demo-origin

# Starts the demo origin (a deliberately slow dynamic site) on 127.0.0.1:8000
# and edge in front of it on 127.0.0.1:8080, with configs/demo.yaml. Ctrl-C
# stops both.
run: build
	@mkdir -p $(RUN)
	@$(BIN)/demo-origin -listen 127.0.0.1:8000 -edge-admin http://127.0.0.1:9091 -edge-token demo-token & origin=$$!; \
	  $(BIN)/edge serve -config configs/demo.yaml & edge=$$!; \
	  trap 'kill $$origin $$edge 2>/dev/null; wait' INT TERM EXIT; \
	  for i in $$(seq 50); do curl -fs http://127.0.0.1:9091/healthz >/dev/null 2>&1 && break; sleep 0.1; done; \
	  echo; \
	  echo "demo origin  http://127.0.0.1:8000  (slow: 30ms a page, 4 at once)"; \
	  echo "edge         http://127.0.0.1:8080  (pages stored under $(RUN)/pages)"; \
	  echo "admin        http://127.0.0.1:9091  (/status, /metrics, /healthz)"; \
	  echo; \
	  echo "try:  curl -si http://127.0.0.1:8080/events/42 | head -16     # MISS, then HIT"; \
	  echo "      curl -si -H 'Accept-Encoding: br' http://127.0.0.1:8080/topics/3 | head -16"; \
	  echo "      curl -s http://127.0.0.1:9091/status"; \
	  echo "      curl -s 'http://127.0.0.1:8000/_origin/stats?path=/events/42'   # renders at the origin"; \
	  echo "      curl -s -XPOST 'http://127.0.0.1:8000/_origin/change?event=42'  # change event 42: the origin tells edge"; \
	  echo "      curl -s http://127.0.0.1:8080/events/42 | grep -o '<h1>[^<]*'  # STALE, then the new title"; \
	  echo "      curl -s 'http://127.0.0.1:9091/impact?tag=event-42'            # pages an invalidation would touch"; \
	  echo "      $(BIN)/edge invalidate -admin 127.0.0.1:9091 -token demo-token -prefix /topics/"; \
	  echo "Ctrl-C stops both."; \
	  wait

# The README's test command: everything, with the race detector, plus the
# fuzz seed corpora (they run as ordinary tests).
test:
	$(GO) test -race -shuffle=on -timeout 20m ./...

check: fmt vet lint test

fmt:
	@out=$$(gofmt -l -s $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

lint:
	$(GO) run $(STATICCHECK) ./...

# Fuzzing: every fuzz target for FUZZTIME each (default 30s), one worker
# each (FUZZPARALLEL), one after another; new corpus entries go to the Go
# build cache, crashers to the package's testdata/fuzz (commit them: they
# then run as ordinary tests). FUZZMINIMIZETIME caps the minimisation of
# each new corpus entry (Go's default, 60s, can eat a short session with
# one worker). Not part of make test; docs/fuzzing.md has the last campaign.
FUZZTIME ?= 30s
FUZZPARALLEL ?= 1
FUZZMINIMIZETIME ?= 5s
FUZZ_TARGETS := \
	./internal/cachekey:FuzzNormalize \
	./internal/store:FuzzDecodeRecord \
	./internal/store:FuzzDecodeMark \
	./internal/store:FuzzPageDir \
	./invalidate:FuzzDecode \
	./invalidate:FuzzParseSchedule \
	./cmd/edge:FuzzParseConfig \
	./gen:FuzzSitemap
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
	  pkg=$${t%%:*}; fn=$${t##*:}; \
	  echo "== $$fn ($$pkg, $(FUZZTIME))"; \
	  $(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) -parallel $(FUZZPARALLEL) $$pkg; \
	done

# The soak run (not part of make test or CI): the demo origin and edge
# serve (the binaries of make build) under mixed traffic at 80% of the
# measured maximum for DURATION, with invalidations, the sweep when edge
# has one, and an origin outage in the middle; samples RSS, goroutines,
# fds, disk use and temp files every 10s; fails if any trends upward or a
# request outside the outage gets a 5xx. Results in
# bench/results/<date>-soak.{csv,svg,md}; SOAK_ARGS go to bench/cmd/soak.
DURATION ?= 30m
SOAK_ARGS ?=
soak: build
	@mkdir -p $(RUN)
	$(GO) build -o $(RUN)/soak ./bench/cmd/soak
	$(RUN)/soak -bin $(BIN) -work $(RUN)/soak-data -d $(DURATION) $(SOAK_ARGS)

# The load suite of issue 3 (not part of make test or CI): installs wrk,
# nginx and varnish with apt-get when missing, then runs every scenario
# against edge, nginx static, nginx proxy_cache, Varnish and the origin
# alone, each server pinned to one core and the load to the other; results
# in bench/results/<date>.{md,json,svg}. About 25 minutes; BENCH_ARGS go to
# bench/cmd/suite (e.g. BENCH_ARGS='-rounds 1 -d 2s -pages 2000' for a
# smoke run).
BENCH_ARGS ?= -perf
bench:
	bench/suite.sh $(BENCH_ARGS)

# Go micro-benchmarks of the hit path, with -benchmem.
bench-go:
	@mkdir -p $(RUN)
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./bench ./internal/cachekey ./internal/store ./proxy | tee $(RUN)/bench.txt

clean:
	rm -rf $(BIN) $(RUN) data
