// Package integrations holds no Go code of its own: it is the home of the
// billing-system modules (PHP) that ask the gateway before a service is
// activated, and of the Go test that runs their php-cli tests against a
// real gateway.
//
//   - php/vpsgate: the shared client of the order API and the activation
//     rule (cleared, or no activation);
//   - whmcs: the WHMCS addon (AfterShoppingCartCheckout, PreModuleCreate);
//   - woocommerce: the WordPress plugin (checkout hooks, the order status
//     that triggers provisioning).
//
// integrations_test.go builds ./cmd/gateway, runs it on the test Redis,
// MinIO and mailpit, and drives the modules' php-cli tests
// (whmcs/tests, woocommerce/tests) through checkout, a held activation, a
// cleared one, a rejected order and the gateway failing (down, stopped
// Redis, a wrong key, garbage answers, no answer at all).
package integrations
