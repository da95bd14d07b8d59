# berth — one static binary: OCI runtime, image store, engine.
GO        ?= go
BIN       ?= bin/berth
GOFLAGS   += -buildvcs=false
TAGS      := netgo osusergo
LDFLAGS   := -s -w -extldflags "-static"
export CGO_ENABLED := 1

.PHONY: all build test go-test lint bench conformance registry-conformance engines demo clean

all: build

build:
	$(GO) build -tags '$(TAGS)' -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/berth

# The whole test suite, as CI runs it: installs what the tests need (apt,
# Go modules), runs the runtime and registry conformance suites, then
# go-test. Needs root (real namespaces, mounts, cgroups).
test:
	bash hack/test.sh

# Only the Go tests.
go-test: build
	BERTH_BINARY=$(CURDIR)/$(BIN) $(GO) test -tags '$(TAGS)' -count=1 -timeout 40m -p 2 ./...
	for m in third_party/github.com/*/*/go.mod; do (cd $$(dirname $$m) && $(GO) test -count=1 ./...) || exit 1; done

lint:
	@out=$$(gofmt -l cmd internal bench third_party); if [ -n "$$out" ]; then echo "not gofmt'ed:"; echo "$$out"; exit 1; fi
	$(GO) vet -tags '$(TAGS)' ./...

bench: build
	$(GO) run ./bench -berth $(CURDIR)/$(BIN) -out docs/benchmarks.md

conformance: build
	bash hack/conformance.sh $(CURDIR)/$(BIN)

# OCI distribution-spec conformance suite against `berth registry serve`
# (see docs/conformance.md).
registry-conformance: build
	bash hack/registry-conformance.sh $(CURDIR)/$(BIN)

# dockerd and podman driving berth as their OCI runtime (installs the peers).
engines: build
	bash hack/engines-check.sh $(CURDIR)/$(BIN)

# Build berth and run a container from a busybox bundle, offline.
demo: build
	bash hack/demo.sh $(CURDIR)/$(BIN)

clean:
	rm -rf bin _out
