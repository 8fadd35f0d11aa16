# syntax=docker/dockerfile:1
# A small image of the gateway: a static binary on distroless, as nonroot.
#   docker build -t vpsgate/gateway .
#   docker run -p 8080:8080 vpsgate/gateway            # embedded zero-config mode
# docker-compose.yml runs it with real Redis, MinIO and a mail catcher.
# internal/deploy/compose_test.go checks the shape of this file.

FROM golang:1.26 AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOTOOLCHAIN=local
# Modules first, so that a code change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags "-s -w" -o /out/gateway ./cmd/gateway

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/gateway /gateway
# The embedded mode keeps its files under ./data: a directory nonroot owns.
WORKDIR /home/nonroot
USER nonroot:nonroot
EXPOSE 8080 8081
ENTRYPOINT ["/gateway"]
CMD ["serve"]
