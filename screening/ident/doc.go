// Package ident turns the identifiers of an order (IP address, email, account,
// card, billing address) into the canonical forms and keyed hashes that the
// screening subpackages store in Redis.
//
// Its place in the flow: the screening core decodes an order, normalizes each
// identifier with the functions here (NormalizeEmail, CardFingerprint,
// NormalizeAddress, IPPrefix), and hands the normalized values to
// screening/velocity and screening/blocklist, which store only
// Hasher.Hash(kind, value): an HMAC-SHA256 under a secret from config. Raw
// emails, IPs, accounts and cards never reach Redis, and without the key the
// hashes cannot be reversed by guessing (a card's BIN and last four digits,
// or an IPv4 address, would be trivially brute-forced from a plain hash).
//
// Normalization decides which spellings count as the same identifier, so it
// is deliberately conservative: NormalizeEmail folds differences that are
// never meaningful (case, surrounding space, an email's "+tag"
// sub-address) and keeps everything else. MailboxEmail (EmailProvider, the
// default of screening.email_normalization) adds what named mailbox
// providers document as one mailbox, such as Gmail's dots, and nothing a
// provider does not document.
package ident
