// Package e2e holds end-to-end tests that build the real gateway binary
// (./cmd/gateway), run it as a subprocess with its configuration in
// GATEWAY_* environment variables on free loopback ports, and talk to it
// over HTTP like a load balancer and a browser would. It sits outside the
// request flow and has no non-test code: the unit tests of each package
// check the parts, these check that cmd/gateway wires them into the order
// the product promises (client IP, then geo-block, then the proxy) and that
// behaviour that only exists in a running process, such as a database
// reload by atomic rename under load, holds.
//
// The binary is built once per test run, with -race when the tests run with
// -race, so that the race detector also watches the gateway's own
// goroutines. The tests are skipped with -short.
package e2e
