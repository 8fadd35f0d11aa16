# Everyday commands. `make test` is the project's test command (and CI's):
# it installs and starts real Redis and MinIO servers on loopback first; see
# scripts/test.sh. Pass go test flags and packages with ARGS, e.g.
#   make test ARGS="-run TestVelocity ./screening/..."

export GOTOOLCHAIN := local

GO   ?= go
ARGS ?=

.PHONY: build run test generate fmt vet

build:
	$(GO) build -o bin/gateway ./cmd/gateway

run:
	$(GO) run ./cmd/gateway $(ARGS)

test:
	bash scripts/test.sh $(ARGS)

generate:
	$(GO) generate ./...

fmt:
	$(GO) fmt ./...

vet:
	$(GO) vet ./...
