package kyc

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/vpsgate/gateway/internal/logctx"
	"github.com/vpsgate/gateway/internal/mail"
)

// RequestTemplate is the template of the mail that brings a new held
// order's KYC link to its customer.
const RequestTemplate = "kyc_request"

// SendKYCRequest queues the kyc_request mail of order ref (its screening
// id; orderID is the storefront's id, for the customer) to email, with
// link, the order's KYC link (KYCLink, KYCEmailLink). The orders relay
// calls it at least once per order; the message id is derived from owner
// and ref, so the outbox queues and sends it once, however often it is
// asked (within the outbox's retention).
func (s *Service) SendKYCRequest(ctx context.Context, owner, orderID, email, link, ref string) error {
	if owner == "" || ref == "" || email == "" || link == "" {
		return fmt.Errorf("kyc request mail: owner, ref, email and link are required: %w", ErrInvalidInput)
	}
	if s.d.Mail == nil || s.d.Templates == nil {
		return fmt.Errorf("kyc request mail of %s: no mail outbox is configured: %w", ref, ErrUnavailable)
	}
	subject, text, html, err := s.d.Templates.Render(RequestTemplate, mail.KYCRequest{Link: link, OrderID: orderID, Expires: s.cfg.LinkTTL})
	if err != nil {
		return fmt.Errorf("rendering %s: %w", RequestTemplate, err)
	}
	id := sha256.Sum256([]byte(owner + "\x00" + ref))
	m := mail.Message{ID: "kyc-request:" + hex.EncodeToString(id[:16]), To: email, Subject: subject, Text: text, HTML: html}
	if err := s.d.Mail.Enqueue(ctx, m); err != nil {
		return fmt.Errorf("queueing the kyc request mail of %s: %w", ref, err)
	}
	s.d.Logger.InfoContext(ctx, "kyc request mail queued", "owner", owner, "screening_id", ref, "email", logctx.MaskEmail(email), "message_id", m.ID)
	return nil
}
