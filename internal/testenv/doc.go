// Package testenv gives tests the real Redis and MinIO servers that
// scripts/test.sh (run by `make test`) starts on loopback, and isolates tests
// from one another on them: a key prefix per test for Redis, a bucket per test
// for S3, both removed in t.Cleanup. It can also start a private redis-server
// that a test stops and restarts to prove that the gateway survives an outage,
// and PHP's built-in web server (php -S) as a storefront whose own form
// parser is the oracle of the gateway's differential tests.
//
// It sits outside the request flow: only _test.go files import it. The server
// addresses come from GATEWAY_TEST_* environment variables. When one is
// missing the test is skipped with a loud message on a developer machine, and
// fails when CI is set, so that CI can never pass by skipping.
package testenv
