// Package emailverify proves that a customer reads the mailbox an order
// names: it mints single-use verification links, serves the customer page
// that consumes them (/_gateway/verify-email on the public side), resends
// links under rate limits, and tells the order lifecycle when an account's
// email is verified.
//
// Place in the flow: the public side's customer pages (after client IP and
// geo-block, never proxied) and one admin API route for storefronts
// (POST /api/v1/accounts/{id}/verification-email). The order lifecycle calls
// VerifyEmailLink and SendVerification; this package calls its
// EmailVerified when a token is consumed.
//
// Tokens are HS256 JWTs (the algorithm pinned) signed with a key derived
// from auth.jwt_secret for this purpose alone, with audience "verify-email",
// so that no officer token, and no other JWT signed with the same secret,
// passes as one (and no verification token passes as an officer token).
// Each carries the owner (the API key's namespace), the account id (sub),
// the email, iat, exp and a random jti.
//
// Single use, and why it survives failures: the jti is claimed in Redis
// with SET NX under a short lease before EmailVerified is called, and
// marked done only after it succeeded. If the call fails the claim is
// released (compare-and-delete), so the customer can try the same link
// again; if the process dies in between, the lease expires and the link
// works again. Two clicks at once: one wins the claim, the other is told
// the link was already used; EmailVerified runs once.
//
// GET never consumes a token. Mail scanners (Outlook Safe Links, Mimecast,
// corporate proxies) fetch every link in a message, so a page that verified
// on GET would verify addresses nobody read, and burn the customer's link
// before they click it. GET shows the state and a "Confirm" button; the
// POST of that button consumes the token. It costs the customer one click.
//
// Personal data: the page shows only the token's own email, masked
// (a***@example.com), and nothing of any other account. Logs carry the
// masked email and the account's owner and id, never a token. Redis holds
// the jti and hashed rate-limit keys, not emails.
//
// Redis: every key is one entity in one hash slot (Cluster-safe). A Redis
// outage makes verification and resend answer "try again later" (503):
// never verified without the single-use check, never a mail without the
// rate limit.
package emailverify
