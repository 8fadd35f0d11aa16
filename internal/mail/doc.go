// Package mail sends the gateway's mail to customers (the email
// verification link first): templates in the repository (templates/, text
// and HTML), a durable outbox in Redis shared by every gateway process, and
// two senders: SMTP (smtp.url, with go-mail) and, in embedded mode, the
// development outbox that keeps mail in Redis for GET /api/v1/dev/mail and
// prints it in the log.
//
// Delivery guarantees. Enqueue is idempotent by Message.ID. A message is
// delivered at least once: it stays in Redis until a worker records its
// success (or gives up on it after mail.dead_after, or at once when the
// server refuses the recipient or the content), and a worker killed
// mid-send leaves it in the consumer group's pending list, from which
// another worker claims it once the lease has passed. After a recorded
// success it is never sent again. One window remains: the SMTP server has
// accepted the message (the reply to DATA) and the worker dies, or Redis
// fails, before the success is recorded. The record is made right then,
// before QUIT, and retried for a third of the lease; should it still be
// lost, the message is sent again with the same Message-ID header (derived
// from Message.ID), by which receivers and mail stores drop the duplicate.
//
// Keys, under screening.key_prefix + "mail:" + "{outbox}:": stream (the
// IDs to deliver, consumer group "senders"), msg:<ID> (a hash: recipient,
// subject, bodies until sent, state queued|sent|dead, attempts,
// last_error), queued (IDs not yet sent, by enqueue time: the depth and
// oldest-age metrics), retry (IDs by next attempt), dead (dead letters, by
// time given up), dev (the development outbox).
//
// Cluster. Every key carries the hash tag {outbox}: the outbox is one
// shared queue in one slot, and each of its state changes is one Lua
// script, atomic on a standalone server and on a Cluster alike.
package mail
