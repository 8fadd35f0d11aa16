// Package events is the gateway's durable event outbox: state changes
// (order.held, order.rejected, account.restricted, ...) are appended to a
// Redis stream in the same request that causes them, and read back later by
// the webhook sender, which delivers them to the storefront.
//
// Place in the flow: screening's Orders service appends; the webhook
// dispatcher (a later issue) reads with Range from the last id it delivered.
// The stream lives in Redis, so it is as durable as Redis is configured to be
// (AOF in the shipped docker-compose). It is capped at a maximum length
// (approximate trimming, MAXLEN ~): a consumer that falls further behind than
// that loses the oldest events, so the cap must be far above a day of
// traffic.
package events
