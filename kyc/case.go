package kyc

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Status is where a case stands.
type Status string

// Case statuses: pending -> approved | rejected | resubmission_requested;
// a resubmission makes it pending again.
const (
	StatusPending      Status = "pending"
	StatusApproved     Status = "approved"
	StatusRejected     Status = "rejected"
	StatusResubmission Status = "resubmission_requested"
)

func (s Status) valid() bool {
	switch s {
	case StatusPending, StatusApproved, StatusRejected, StatusResubmission:
		return true
	}
	return false
}

// DocumentType is the identity document a customer sends.
type DocumentType string

// Document types; a passport has no back.
const (
	DocPassport       DocumentType = "passport"
	DocNationalID     DocumentType = "national_id"
	DocDrivingLicence DocumentType = "driving_licence"
)

func (d DocumentType) valid() bool {
	return d == DocPassport || d == DocNationalID || d == DocDrivingLicence
}

// hasBack says whether the type has a back side to send.
func (d DocumentType) hasBack() bool { return d != DocPassport }

// Document is one stored file of a case. SHA256 stays in the case (it
// flags a document another account sent) and never goes into an event.
type Document struct {
	ID          string    `json:"id"`
	Side        string    `json:"side"` // front, back or selfie
	ContentType string    `json:"content_type"`
	Size        int64     `json:"size"`
	SHA256      string    `json:"sha256"`
	Encrypted   bool      `json:"encrypted"`
	UploadedAt  time.Time `json:"uploaded_at"`
	Submission  int       `json:"submission"`
	Deleted     bool      `json:"deleted,omitempty"`
}

// Reason is a finding the officer reads on the case.
type Reason struct {
	Code   string `json:"code"`
	Detail string `json:"detail"`
}

// Reason codes of the decision help.
const (
	ReasonNameMismatch      = "name_mismatch"
	ReasonEmailNameMismatch = "email_name_mismatch"
	ReasonDuplicateDocument = "duplicate_document"
)

// nameMismatchBelow is the score under which a name match is a reason.
const nameMismatchBelow = 60

// Case is a KYC case as stored: one account's identity check, or, for
// orders that came without an account id, the identity check of the
// owner's customer known by the keyed hash of an email address (Account
// "", EmailHash set).
type Case struct {
	ID        string `json:"id"`
	Version   int64  `json:"version"`
	Owner     string `json:"owner"`
	Account   string `json:"account"`
	EmailHash string `json:"email_hash,omitempty"`
	Status    Status `json:"status"`

	LegalName    string       `json:"legal_name"`
	DocumentType DocumentType `json:"document_type"`
	Documents    []Document   `json:"documents"`
	Submissions  int          `json:"submissions"`

	// What the order said, for the officer's comparison.
	BillingName string `json:"billing_name,omitempty"`
	Email       string `json:"email,omitempty"`

	// Decision help.
	BillingScore *int     `json:"billing_name_score,omitempty"`
	EmailScore   *int     `json:"email_name_score,omitempty"`
	Reasons      []Reason `json:"reasons"`

	CreatedAt   time.Time `json:"created_at"`
	SubmittedAt time.Time `json:"submitted_at"`
	DecidedAt   time.Time `json:"decided_at,omitzero"`
	DecidedBy   string    `json:"decided_by,omitempty"`
	// Reason is the customer-facing reason of a rejection or a
	// resubmission request (and the reason code on rejected orders).
	Reason string `json:"reason,omitempty"`
	// Note is the officer's internal note: never shown to the customer.
	Note string `json:"note,omitempty"`

	// PurgeAt is when the documents are deleted (Retention after the
	// decision); Redacted says they were.
	PurgeAt    time.Time `json:"purge_at,omitzero"`
	Redacted   bool      `json:"redacted,omitempty"`
	RedactedAt time.Time `json:"redacted_at,omitzero"`
}

// Ref is the account the case belongs to, as orders and the audit log
// name it: "<owner>/<account id>", or "email:<owner>/<email hash>" for an
// email reference (subjectRef).
func (c *Case) Ref() string { return subjectRef(c.Owner, c.Account, c.EmailHash) }

// Decision is an officer's decision on a case: the body of approve,
// reject and request-resubmission.
type Decision struct {
	// Reason: required for reject and request-resubmission; shown to the
	// customer (and, for a rejection, recorded on the orders).
	Reason string `json:"reason"`
	// Note: internal, for officers only.
	Note string `json:"note"`
}

// Limits of a decision's text.
const (
	maxReason = 500
	maxNote   = 2000
)

func (d *Decision) validate(reasonRequired bool) error {
	d.Reason, d.Note = strings.TrimSpace(d.Reason), strings.TrimSpace(d.Note)
	switch {
	case reasonRequired && d.Reason == "":
		return &FieldError{Field: "reason", Problem: "is required"}
	case utf8.RuneCountInString(d.Reason) > maxReason || !utf8.ValidString(d.Reason):
		return &FieldError{Field: "reason", Problem: fmt.Sprintf("must be valid text of at most %d characters", maxReason)}
	case utf8.RuneCountInString(d.Note) > maxNote || !utf8.ValidString(d.Note):
		return &FieldError{Field: "note", Problem: fmt.Sprintf("must be valid text of at most %d characters", maxNote)}
	}
	return nil
}

// FieldError is bad input in one named field (400 with "field").
type FieldError struct {
	Field   string
	Problem string
}

func (e *FieldError) Error() string        { return e.Field + ": " + e.Problem }
func (e *FieldError) InvalidField() string { return e.Field }
func (e *FieldError) Unwrap() error        { return ErrInvalidInput }

// Submission is what a customer's upload brings to a case.
type Submission struct {
	LegalName    string
	DocumentType DocumentType
	Documents    []Document
	BillingName  string
	Email        string
}

// submitted is the case after an upload (owner's account, or, when
// account is "", owner's email reference emailHash): a new case, or one whose
// resubmission was requested, becomes pending with the new documents
// (earlier ones stay listed until retention). dup lists the accounts that
// sent a document with the same content before.
func submitted(prev *Case, id, owner, account, emailHash string, s Submission, dup map[string]bool, now time.Time) (Case, error) {
	var c Case
	switch {
	case prev == nil:
		c = Case{ID: id, Owner: owner, Account: account, EmailHash: emailHash, CreatedAt: now.UTC()}
	case prev.Status == StatusResubmission:
		c = *prev
		c.Documents = slices.Clone(prev.Documents)
	default:
		return Case{}, fmt.Errorf("case %s is %s: documents were already sent: %w", prev.ID, prev.Status, ErrConflict)
	}
	c.Version++
	c.Status = StatusPending
	c.Submissions++
	c.LegalName, c.DocumentType = s.LegalName, s.DocumentType
	c.BillingName, c.Email = s.BillingName, s.Email
	for _, d := range s.Documents {
		d.Submission = c.Submissions
		c.Documents = append(c.Documents, d)
	}
	c.SubmittedAt = now.UTC()
	c.Reason, c.DecidedAt, c.DecidedBy = "", time.Time{}, ""
	c.Reasons = nil
	if s.BillingName != "" {
		sc := NameScore(s.LegalName, s.BillingName)
		c.BillingScore = &sc
		if sc < nameMismatchBelow {
			c.Reasons = append(c.Reasons, Reason{ReasonNameMismatch, fmt.Sprintf("legal name and billing name match %d/100", sc)})
		}
	}
	if s.Email != "" {
		sc := EmailNameScore(s.LegalName, s.Email)
		c.EmailScore = &sc
		if sc < nameMismatchBelow {
			c.Reasons = append(c.Reasons, Reason{ReasonEmailNameMismatch, fmt.Sprintf("legal name and email address match %d/100", sc)})
		}
	}
	if len(dup) > 0 {
		accounts := make([]string, 0, len(dup))
		for a := range dup {
			accounts = append(accounts, a)
		}
		slices.Sort(accounts)
		c.Reasons = append(c.Reasons, Reason{ReasonDuplicateDocument, "a document with the same content was sent by another account: " + strings.Join(accounts, ", ")})
	}
	return c, nil
}

// decided is the case after an officer's decision; only a pending case
// is decided (anything else is ErrConflict).
func decided(prev Case, to Status, d Decision, officer string, now time.Time, retention time.Duration) (Case, error) {
	if prev.Status != StatusPending {
		return Case{}, fmt.Errorf("case %s is %s, not pending: %w", prev.ID, prev.Status, ErrConflict)
	}
	c := prev
	c.Version++
	c.Status = to
	c.Reason, c.Note = d.Reason, d.Note
	c.DecidedAt, c.DecidedBy = now.UTC(), officer
	// A resubmission request is a decision too: documents nobody
	// replaces are not kept longer than after any other. A new upload
	// takes the case off the deletion schedule until the next decision.
	c.PurgeAt = now.UTC().Add(retention)
	return c, nil
}

// redacted is the case after its documents were deleted.
func redacted(prev Case, now time.Time) Case {
	c := prev
	c.Version++
	c.Documents = slices.Clone(prev.Documents)
	for i := range c.Documents {
		c.Documents[i].Deleted = true
		c.Documents[i].SHA256 = ""
	}
	c.Redacted, c.RedactedAt = true, now.UTC()
	c.PurgeAt = time.Time{}
	return c
}
