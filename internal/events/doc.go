// Package events is the gateway's durable event outbox: state changes
// (order.held, order.rejected, account.restricted, ...) are appended to a
// Redis stream in the same request that causes them, and read back later by
// the webhook sender, which delivers them to the storefront.
//
// Place in the flow: screening's Orders service appends; the webhook
// dispatcher (a later issue) reads with Range from the last id it delivered.
// The stream lives in Redis, so it is as durable as Redis is configured to be
// (AOF in the shipped docker-compose).
//
// Ids are the stream's own ("1700000000000-0"): assigned by Redis, unique
// and increasing in append order across all gateway processes, so they
// order the events and serve as cursors.
//
// Bound. The stream is capped at MaxLen entries by approximate trimming
// (XADD MAXLEN ~, also in screening's store-and-publish script). Redis then
// removes only whole nodes of the oldest entries (stream-node-max-entries,
// 100 by default) and never goes below MaxLen: the MaxLen newest events are
// always kept, and the stream holds at most about MaxLen+100. A reader at
// most MaxLen events behind the newest loses nothing. One further behind
// may lose the oldest unread events, but never silently: Range returns
// ErrTrimmed when the cursor is older than every event left. The cap must
// therefore be far above the events appended while the reader can be down
// (cmd/gateway uses one million).
package events
