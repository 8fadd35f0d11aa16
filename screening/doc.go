// Package screening decides whether an order is accepted, reviewed or
// rejected (PRODUCT.md §4 "Screening"). It scores; what a score leads to
// (holds, review, clearing, expiry, the stored order) is the orders
// package's.
//
// Place in the flow: the gateway decodes an order from POST /api/v1/orders
// (DecodeOrder) or reads it out of an intercepted storefront checkout
// (InterceptRoute.MapOrder), then the orders service screens it once
// (Screener.ScreenGuarded, with its own record look-up in the same Redis
// round trip) and stores the result. Screening gathers signals (Signals):
// GeoIP facts and the geo policy through interfaces the gateway adapts
// from geoblock, the email domain lists shipped in emaildomains/, the
// blocklists and velocity counters (screening/blocklist,
// screening/velocity: one Redis round trip), and minFraud
// (screening/minfraud). The rules of configs/rules.yaml (expr-lang
// expressions, compiled once at start) turn the signals into a score and a
// decision; Rules.Evaluate documents the formula.
//
// Round trips. ScreenGuarded sends the caller's look-up (Guard), the
// blocklist look-ups and the velocity script in one pipeline; when the
// caller says the order is stored already, nothing is counted and minFraud
// is not called (it is called after that round trip, once the order is
// known to be new).
//
// Failure policy: decisions are values, errors mean "could not decide". When
// Redis fails, Screen returns an error wrapping ErrUnavailable and the
// storefront retries with the same order_id. When minFraud fails, the order
// is scored without it and the default rules force a review with reason
// minfraud_unavailable; it is never accepted silently. When the GeoIP lookup
// fails, the default rules force a review (ip_location_failed).
//
// Personal data at rest: velocity counters and blocklists hold keyed hashes
// (screening/ident), not raw identifiers.
package screening
