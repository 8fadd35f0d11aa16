// Package screening decides whether an order is accepted, reviewed or
// rejected, and keeps the orders service (PRODUCT.md §4 "Orders",
// "Screening").
//
// Place in the flow: the gateway decodes an order from POST /api/v1/orders
// (DecodeOrder) or reads it out of an intercepted storefront checkout
// (InterceptRoute.MapOrder), then calls Orders.Submit with the order's owner
// (the API key, or the public checkout: see Owner), which screens it once
// (Screener.Screen) and stores the answer under its screening id, a keyed
// hash of owner and order_id. Screening
// gathers signals (Signals): GeoIP facts and the geo policy through
// interfaces the gateway adapts from geoblock, the email domain lists shipped
// in emaildomains/, the blocklists and velocity counters (screening/blocklist,
// screening/velocity: one Redis round trip), and minFraud
// (screening/minfraud). The rules of configs/rules.yaml (expr-lang
// expressions, compiled once at start) turn the signals into a score and a
// decision; Rules.Evaluate documents the formula.
//
// Round trips. As cmd/gateway wires it on a standalone Redis (or Sentinel),
// a new order costs two Redis round trips: one pipeline with the order's
// idempotency look-up, the blocklist look-ups and the velocity script, then
// one script that stores the order and appends its event to the outbox. A
// replayed order costs the first one only, and no minFraud call: minFraud
// is called after that round trip, once it is known that the order is new.
// OrderDeps details the conditions, and Cluster's extra round trips.
//
// Failure policy: decisions are values, errors mean "could not decide". When
// Redis fails, Screen and Submit return an error wrapping ErrUnavailable and
// the storefront retries with the same order_id. When minFraud fails, the
// order is scored without it and the default rules force a review with reason
// minfraud_unavailable; it is never accepted silently. When the GeoIP lookup
// fails, the default rules force a review (ip_location_failed).
//
// What is not built yet: holds. Until the holds issue lands, a rejected order
// has status rejected and every other order stays held, with
// email_verification pending, manual_review pending for a review decision
// (not_required otherwise) and kyc not_required; links is empty. Nothing
// clears or expires an order yet.
//
// Personal data at rest: an order record in Redis keeps the screening answer
// and, for later events, only the account id, the card's BIN and last four
// digits, the IP address and the minFraud transaction id (see privateData);
// it expires after screening.order_retention. Velocity counters and
// blocklists hold keyed hashes (screening/ident), not raw identifiers. The
// event outbox carries the answers (no personal data beyond the order and
// account ids).
package screening
