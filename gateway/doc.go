// Package gateway is the outside of the product: the public listener that
// storefront traffic passes through (client IP, geo-block, customer pages,
// order interception, reverse proxy) and the admin listener (health,
// readiness, metrics, API, console). New builds both chains in one place, so
// the order of the middleware can be read top to bottom.
package gateway
