// Package blocklist keeps the officers' blocklist of IPs, CIDR ranges,
// emails, email domains, accounts and cards (BIN:last4) in Redis, and
// checks an order's identifiers against it.
//
// Its place in the flow: the API's blocklist endpoints call Add, List,
// Remove and RemoveID; a chargeback event calls Add for the account and the
// card; the screening core calls Check (or QueueCheck, to share the round
// trip of velocity.Counter.QueueRecord) for every order, and the rules see
// the hits.
//
// Storage. Identifiers are never stored raw: an entry is keyed by its ID,
// the keyed hash (ident.Hasher) of its kind and normalized value, and keeps
// only a masked form of the value for officers to recognize (Mask:
// "a***@example.com", "198.51.100.x"). CIDR ranges are the exception: they
// are not personal data and must stay ranges to be matched, so they are
// stored as written. All keys share the hash tag {bl}:
//
//	prefix{bl}:e:<id>       hash: kind, value (masked), reason, added_by, added_at
//	prefix{bl}:idx          sorted set: id -> added_at, every entry
//	prefix{bl}:idx:<kind>   sorted set: id -> added_at, one kind
//	prefix{bl}:cidr         hash: id -> {"prefix", "reason"} of every range
//	prefix{bl}:ver          random token, replaced on every change of the ranges
//
// Matching. An entry blocks every spelling of what it names: an email by
// the List's ident.EmailRules (with provider rules, the spellings a mailbox
// provider delivers to one mailbox), an email domain for itself and every
// subdomain (labels, never substrings: evil.example blocks
// x@mail.evil.example, not x@notevil.example), a card by the first six
// digits of its BIN and its last four (CardKey), whatever BIN length the
// entry and the order give. Entries keyed before those rules (an email by
// its basic form, a card by an 8-digit BIN) are looked up too, so they
// keep blocking what they blocked; an officer who wants one to cover every
// spelling adds it again (and removes the old one by value or ID).
//
// Checking. An exact identifier is one HMGET of its entry key; an email
// domain is one per parent domain of at least two labels. Ranges are
// matched in memory: each List holds a copy of the ranges and the version it
// was loaded at; Check reads the version in the same pipeline as the HMGETs
// and reloads the ranges (one more round trip) only when it differs from
// the copy's. The version is a random token rather than a counter, so that
// ranges added after Redis lost its data are never mistaken for ones
// already loaded. A look-up costs one map probe per distinct prefix length
// listed. So Check is one round trip while the ranges do not change, and
// every gateway process sees a change at its next Check.
package blocklist
