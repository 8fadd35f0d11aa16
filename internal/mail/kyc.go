package mail

import "time"

// KYCResubmission is the data of the "kyc_resubmission" template: an
// officer asked the customer for new identity documents.
type KYCResubmission struct {
	// Link is public_url + /_gateway/kyc?token=...
	Link string
	// Reason is the officer's reason, for the customer.
	Reason string
	// Expires is how long the link works.
	Expires time.Duration
}

// KYCRequest is the data of the "kyc_request" template: a new order waits
// on an identity check, and this is the customer's link to send documents.
type KYCRequest struct {
	// Link is public_url + /_gateway/kyc?token=...
	Link string
	// OrderID is the storefront's id of the order, as the customer knows
	// it; "" when the gateway made the id up (an intercepted checkout):
	// the mail names no order then.
	OrderID string
	// Expires is how long the link works.
	Expires time.Duration
}
