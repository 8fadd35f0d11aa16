// Package audit is the tamper-evident audit log: every order state change
// and every officer or admin action (blocklist add/remove, reviews, later
// KYC decisions) is one Entry in a hash chain kept in Redis and archived to
// S3 as JSON Lines. It sits beside screening and kyc: the gateway's API
// handlers and the order lifecycle's relay call Append; `gateway audit
// verify` calls Verify; GET /api/v1/audit calls Query.
//
// # The chain and its canonical encoding
//
// Append gives each entry Seq (1, 2, 3, ... without gaps), Prev (the Hash
// of entry Seq-1; "" for seq 1) and Hash, the lower-case hex SHA-256 of
// the entry's canonical encoding. The canonical encoding is one JSON
// object, no insignificant whitespace, with exactly these members in this
// order (absent ones left out as marked):
//
//	id      string
//	seq     number
//	time    string, RFC 3339 in UTC ("Z"), fractional seconds with trailing zeros removed
//	actor   string
//	action  string
//	order   string, left out when empty
//	account string, left out when empty
//	addr    string, left out when empty
//	before  any JSON, compacted (member order kept), left out when absent or null
//	after   any JSON, compacted (member order kept), left out when absent or null
//	prev    string
//
// Strings are written as Go's encoding/json writes them: UTF-8, with
// '"', '\\', control characters, '<', '>', '&', U+2028 and U+2029 escaped as
// \uXXXX (or \" \\ \n \r \t). Prev is inside the hashed bytes, so each
// hash covers the whole chain before it.
//
// The stored form of an entry (a Redis hash field, an archive line) is the
// canonical encoding with the member "hash" added last:
// {...,"prev":"<hex>","hash":"<hex>"}. An auditor needs no Go to re-check
// an archive: for each line, remove `,"hash":"<64 hex>"` before the closing
// brace, SHA-256 the rest, compare with the removed value, and compare
// prev with the previous line's hash, e.g.
//
//	sed -E 's/,"hash":"[0-9a-f]{64}"}$/}/' LINE | tr -d '\n' | sha256sum
//
// A chain without a key proves order and integrity relative to an anchor,
// not authorship: whoever can write to both Redis and the archive can
// rewrite the tail consistently. The archive bucket is therefore separate
// (audit.bucket) so that an operator can give it S3 object lock or
// versioning, and the head hash that verify prints can be kept elsewhere.
//
// # Redis layout
//
// Every key starts with the configured prefix and the hash tag {audit}, so
// the whole log is one Redis Cluster slot and one script can touch all of
// it:
//
//	{audit}:head                 hash: seq, hash (the last entry); archived (last
//	                             seq in S3); trimmed, trimmed_hash (last seq removed
//	                             from Redis, and its hash); init; claim,
//	                             claim_until (an appender's claim on the head)
//	{audit}:entries              hash: seq -> stored line
//	{audit}:ids                  hash: entry id -> seq (idempotency)
//	{audit}:ix:all               sorted set of seqs
//	{audit}:ix:<field>:<len>:<v> sorted set of the seqs whose order, account,
//	                             actor or action is v
//	{audit}:archiver             the archiver's lease
//
// Append hashes the entry in Go (Redis's Lua has no SHA-256) against the
// head this process last saw (read once), then runs one script that
// writes the entry, its ID and its index memberships and moves the head
// only if the head is still that one (compare-and-set), or returns the
// stored entry if the ID is already there. Concurrent appenders in any
// number of processes thus never fork the chain; the loser of a race gets
// the new head from the script and tries again, up to a bound, with
// jittered back-off. Within a process appends take turns, so races are
// between processes only; an append that lost three races claims the head
// (the script then refuses everyone else until it has appended, for 2s at
// most), so no process starves either. An uncontended Append is one round
// trip (about 0.1 ms on loopback), one more per lost race.
//
// AppendBatch does the same for a run of entries (the order relay's batch
// of a shard): it chains them in Go from the head, each hashed exactly as
// Append hashes it, and one script writes all of them and moves the head
// by the whole run, compare-and-set, or writes nothing: it first looks up
// every id, and if some are in the log already it writes nothing and names
// them, so the caller drops those and chains the rest again. A lost race
// chains the batch again from the new head, as Append does. A batch thus
// costs one round trip and one script run however many entries it has.
// AppendBatchMarshaled is AppendBatch for a caller that declares its
// documents json.Marshal's output (the order relay): they are not scanned
// as JSON again, and are stored and hashed as AppendBatch would.
//
// # Archive
//
// Every process runs an Archiver; a lease in Redis lets one work at a time
// (a process killed holding it delays archiving by one lease time,
// 2*archive_interval+30s). It writes objects <archive_prefix><first
// seq>-<last seq>.jsonl (seqs zero-padded to 20 digits, so the listing is
// in chain order), at most archive_batch entries each, one stored line and
// "\n" per entry, then moves the head's archived mark. A process that dies
// between the two leaves an object behind: the next archiver adopts it
// rather than write an overlapping one. The lease is renewed before every
// object; only an archiver that stalls past its lease in the middle of a
// write can leave an object overlapping another one, which then repeats
// the same entries (Verify checks that they are the same).
//
// What stays in Redis: entries not yet archived, and archived entries
// younger than audit.retention (GET /api/v1/audit reads only Redis; older
// entries are read from the archive). Trim removes older archived entries
// with their IDs and index memberships and keeps the seq and hash of the
// last one removed in the head: the first entry left in Redis must link to
// it, and the archive must hold it, so the chain stays verifiable across
// the boundary. A redelivery of an entry older than the retention would
// therefore be appended again; producers redeliver within minutes.
//
// Redis data loss: Append refuses (ErrUnavailable) while Redis has no head.
// Archiver.Init, run at start and on every archiver tick, seeds an empty
// head from the archive's last entry (or from nothing on a new
// installation), so the chain goes on from the archive instead of starting
// a second seq 1. Entries appended after the last archiving are lost with
// Redis; archive_interval bounds how many.
//
// # Verify
//
// Verify walks the archive objects in order and the entries in Redis,
// recomputing every hash and link, requiring seqs without gaps or repeats
// (an overlapping archive object must repeat exactly the entries already
// read), object contents that match their names (no truncation), the
// archive to reach the head's archived mark, the trim anchor to match the
// archive, Redis and the archive to agree wherever both hold an entry, and
// the id index to map exactly the entries in Redis to their seqs (a
// planted id would make Append swallow a future entry as a duplicate).
// It names the lowest seq found broken: where, which entry, what is wrong.
// It can run against a live log: appends, archiving and trimming during
// the walk are told apart from tampering (Verify's doc says how).
package audit
