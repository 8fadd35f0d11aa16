// Package deploy holds the tests of the deployment files at the root of the
// repository: docker-compose.yml (gateway, Redis with AOF, MinIO, Mailpit and
// the demo storefront) and the Dockerfile. It sits outside the request flow
// and has no code of its own; the machines that build and test the gateway
// have no Docker engine, so these files are checked by parsing them, the
// compose file with the loader Docker Compose itself uses.
package deploy
