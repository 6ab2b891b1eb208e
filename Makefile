# pregen edge. `make run` starts the demo origin and edge; `make test` runs
# the whole suite with the race detector.
GO      ?= go
BIN     := bin
RUN     := .run
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.7.0

.PHONY: all build run test check fmt vet lint fuzz bench clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/edge ./cmd/edge
	$(GO) build -trimpath -o $(BIN)/demo-origin ./cmd/demo-origin

# Starts the demo origin (a deliberately slow dynamic site) on 127.0.0.1:8000
# and edge in front of it on 127.0.0.1:8080, with configs/demo.yaml. Ctrl-C
# stops both.
run: build
	@mkdir -p $(RUN)
	@echo "demo origin: http://127.0.0.1:8000   edge: http://127.0.0.1:8080   admin: http://127.0.0.1:9091"
	@echo "try:  curl -si http://127.0.0.1:8080/events/42 | head -20   (twice: MISS, then HIT)"
	@echo "      curl -s http://127.0.0.1:9091/status"
	@trap 'kill 0' INT TERM EXIT; \
	  $(BIN)/demo-origin -listen 127.0.0.1:8000 & \
	  $(BIN)/edge serve -config configs/demo.yaml & \
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

# Short fuzzing sessions for every parser (not part of make test).
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzNormalize$$' -fuzztime $(FUZZTIME) ./internal/cachekey
	$(GO) test -run '^$$' -fuzz '^FuzzParseConfig$$' -fuzztime $(FUZZTIME) ./cmd/edge

# Go micro-benchmarks of the hit path (see bench/README.md for wrk runs).
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./bench ./internal/cachekey ./internal/store | tee $(RUN)/bench.txt

clean:
	rm -rf $(BIN) $(RUN) data
