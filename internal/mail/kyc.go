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
