package orders

import (
	"context"
	"fmt"
	"strings"

	"github.com/vpsgate/gateway/screening"
)

// kyc_when first_order (issue 12/8) asks for KYC until the account, or the
// email reference of an order without an account id, has an approved
// identity (identityField) or an order that cleared (fieldCleared). An
// order counts only once it cleared, not when it was stored: two orders
// of one account placed while neither has cleared are both asked, so a
// second order cannot clear around the first one's KYC, whichever
// process or Cluster node stores them.

// fieldCleared is the account key's mark of an order that cleared, set
// by the relay (deliverAccounts) from the change that cleared it. Marks
// written before issue 12/8 under the name "ordered" were set when an
// order was stored, held ones too, and are not read: such an account is
// asked for KYC once more (fail closed).
const fieldCleared = "cleared"

// clearedMark is the pending work of change c of order prev: when c
// clears the order, its account or email reference is marked as having
// a cleared order. An order is cleared once (Complete, settle), so this
// is queued once per order; the mark itself is idempotent.
func clearedMark(prev Record, c Change) []pending {
	if c.Next.Status != StatusCleared || prev.Status == StatusCleared || c.Next.accountRef() == "" {
		return nil
	}
	p := pendingAccount{Owner: c.Next.Owner, Account: c.Next.AccountID}
	if p.Account == "" {
		p.EmailHash = c.Next.EmailHash
	}
	return []pending{{kindAccount, p}}
}

// pendingKYCMail is kindKYCMail work: the KYC link of new
// order Ref (screening id), minted at creation and also in the answer's
// links.kyc, to mail to Email.
type pendingKYCMail struct {
	Owner   Owner  `json:"owner"`
	OrderID string `json:"order_id"`
	Email   string `json:"email"`
	Link    string `json:"link"`
	Ref     string `json:"ref"`
}

// kycMailer queues the kyc_request mail (the kyc package's *Service): a
// durable outbox, at least once, never twice after success for one ref.
type kycMailer interface {
	SendKYCRequest(ctx context.Context, owner, orderID, email, link, ref string) error
}

// kycRequestMail is the pending work that mails the KYC link of new
// order r, when it has one and an address to send it to: the customer of
// an intercepted checkout never sees the API's answer.
func kycRequestMail(r Record, email string) []pending {
	link := r.Links["kyc"]
	if link == "" || email == "" {
		return nil
	}
	orderID := r.OrderID
	if strings.HasPrefix(orderID, screening.GeneratedOrderIDPrefix) {
		orderID = "" // made up by the gateway: the customer never saw it
	}
	return []pending{{kindKYCMail, pendingKYCMail{Owner: r.Owner, OrderID: orderID, Email: email, Link: link, Ref: r.ScreeningID}}}
}

// deliverKYCMail hands a kindKYCMail entry to the kyc mailer (none: KYC
// is off, so no link was minted to mail).
func (r *Relay) deliverKYCMail(ctx context.Context, pm pendingKYCMail) error {
	if r.d.KYCMailer == nil {
		r.log.WarnContext(ctx, "no kyc mailer: the kyc link of an order is only in its answer", "screening_id", pm.Ref)
		return nil
	}
	if err := r.d.KYCMailer.SendKYCRequest(ctx, string(pm.Owner), pm.OrderID, pm.Email, pm.Link, pm.Ref); err != nil {
		return fmt.Errorf("requesting the kyc mail of %s: %w", pm.Ref, err)
	}
	return nil
}
