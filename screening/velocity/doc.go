// Package velocity counts orders and payment events per identifier over
// sliding windows in Redis, for the screening rules ("more than 3 orders
// from this IP in 1 h").
//
// Its place in the flow: the screening core normalizes an order's
// identifiers (screening/ident) and calls Counter.Record once per order,
// before evaluating rules; the counts it returns include the order. The
// events API calls RecordEvent. Identifiers reach Redis only as keyed hashes
// (ident.Hasher), never raw.
//
// # Counts
//
// For each configured window (default 1 h, 24 h, 7 d, labelled by Label)
// Record reports orders per ip, ip_prefix (/24 or /64), email, account, card
// (BIN:last4) and address; distinct accounts_per_ip and cards_per_account;
// an Order.OlderEmail (the same address as an earlier release keyed it) is
// read, not written, and added to the email counts;
// and, read-only, the account's payment_failed_account, refund_account and
// chargeback_account event counts. Names are "<dimension>_<label>", e.g.
// "ip_prefix_24h". A window is (now-w, now]: an order exactly w old has left
// it. "now" is always the caller's clock, passed into the script: Redis's
// TIME is never used, so tests are deterministic and gateways agree.
//
// # One round trip
//
// All counters of one order are read and updated by one Lua script call
// (EVALSHA; EVAL once after NOSCRIPT on a server that lacks the script).
// On a *redis.Client (standalone, Sentinel) it is one EVALSHA over every key
// of the order: one command, one round trip. Every key of one identifier
// carries the hash tag {kind:hash} (KeyPrefix + "{ip:<hash>}:z"), so on
// Cluster (or Ring) the order becomes one EVALSHA per identifier, each
// within one slot, sent as one pipeline: go-redis sends the commands of each
// node together, to all nodes at once. QueueRecord queues the same calls on
// a caller's pipeline, so that the blocklist check travels in the same round
// trip (see screening/blocklist).
//
// # Storage and memory bounds
//
// Per identifier, under its hash tag:
//
//	:z   sorted set: order id hash -> time (ms), the newest MaxEntries orders
//	:o   hash: overflow buckets of a hot identifier (below)
//	:d   sorted set: distinct account (for an IP) or card (for an account)
//	     hash -> last seen, the MaxEntries most recently seen
//	:pf :rf :cb (and :pfo :rfo :cbo)  an account's payment-failed, refund and
//	     chargeback events, counted like orders
//
// Every write trims entries older than the longest window and sets the key's
// TTL to the longest window, so idle keys disappear. No key grows with
// traffic: a sorted set holds at most MaxEntries members (about 120 bytes
// each; the default 1000 is about 120 KiB), an overflow hash at most
// 3 + 63 fields per window. A /24 seeing thousands of orders a minute costs
// the same memory as one seeing a thousand a week.
//
// # Approximation
//
// Counts are exact while a window holds at most MaxEntries orders of the
// identifier, which covers every identifier but hot ones (a busy NAT /24,
// a hosting ASN). Beyond that, the oldest orders are evicted from the sorted
// set into 60 buckets per window (a bucket spans window/60: 1 min for 1 h,
// 24 min for 24 h, 2.8 h for 7 d). A window's count is then the exact count
// of the kept orders plus the evicted orders of the buckets that overlap the
// window; the bucket holding the window's start is counted whole. So a count
// is never below the truth and exceeds it by at most the orders of one
// bucket, the orders seen between w and w + w/60 ago. Rules therefore see
// hot identifiers slightly early, never late.
//
// Distinct counts are exact up to MaxEntries and saturate there (the set
// keeps the most recently seen members, so a window holding up to
// MaxEntries distinct members is counted exactly).
//
// The script needs Redis 6.2 or later (ZADD GT) and also runs on the
// embedded server of the zero-config mode (miniredis).
//
// # Retries and failures
//
// An order is a member named by the hash of its id, added with ZADD NX:
// recording the same id again adds nothing and returns the current counts,
// in every dimension, distinct ones included (re-adding a member only moves
// its last-seen time). This holds as long as the order is among the
// MaxEntries newest of each identifier; an order retried after MaxEntries
// newer orders of the same identifier counts once more there, which can
// only happen on an identifier whose count is already at least MaxEntries.
//
// A caller that stores orders (screening's Orders) passes its record key as
// Order.Unless: on a standalone server the script then checks, before
// counting, that the order is not stored yet, and counts nothing for an
// order already stored (ErrSkipped). So a submission refused as a conflict
// (same id, different identifiers) never counts its identifiers, and a
// replay costs one EXISTS. On Cluster the check cannot join the per-slot
// calls; there a refused conflicting submission counts the identifiers that
// differ from the stored order's once, as one more order would.
//
// A script call applies wholly or not at all: it validates its arguments
// before writing, Redis runs it atomically, and Redis refuses a script for
// lack of memory only before its first write. Redis unreachable, a timeout
// (Config.Timeout) or a cancelled context give an error wrapping
// ErrUnavailable. When calls of one order fail partway (a Cluster node down
// while others answered), some identifiers were counted and some not: the
// caller answers 503, the storefront retries with the same order id, the
// counted identifiers recognise it and the others count it now, so the
// retry leaves every counter exactly as one successful attempt would. The
// same holds when a call applied but its reply was lost (go-redis may
// resend it on its own).
package velocity
