package kyc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/internal/events"
	"github.com/vpsgate/gateway/internal/mail"
)

// identityOrders is the order lifecycle (orders.Service): what a case
// means for the account's held orders. Every method is idempotent (the
// relay delivers at least once).
// The identity is owner's accountID, or, when that is "", owner's email
// reference emailHash (the orders of owner that came without an account
// id and with that address).
type identityOrders interface {
	KYCSubmitted(ctx context.Context, owner, accountID, emailHash, caseID string, submission int, actor string) error
	IdentityVerified(ctx context.Context, owner, accountID, emailHash, caseID, actor string) error
	IdentityRejected(ctx context.Context, owner, accountID, emailHash, caseID, reason, actor string) error
}

// eventAppender is the event outbox (internal/events's *Outbox).
type eventAppender interface {
	Append(ctx context.Context, e events.Event) (string, error)
}

// AuditEntry is an audit log entry in the shape of audit.Entry (the
// relay's sink converts it); its ID makes a redelivery change nothing.
type AuditEntry struct {
	ID      string          `json:"id"`
	Time    time.Time       `json:"time"`
	Actor   string          `json:"actor"`
	Action  string          `json:"action"`
	Account string          `json:"account,omitempty"`
	Addr    string          `json:"addr,omitempty"`
	Before  json.RawMessage `json:"before,omitempty"`
	After   json.RawMessage `json:"after,omitempty"`
}

// auditAppender is the audit log, adapted.
type auditAppender interface {
	Append(ctx context.Context, e AuditEntry) error
}

// mailQueue queues mail (internal/mail's *Outbox).
type mailQueue interface {
	Enqueue(ctx context.Context, m mail.Message) error
}

// mailRenderer renders a named mail template (internal/mail's *Templates).
type mailRenderer interface {
	Render(name string, data any) (subject, text, html string, err error)
}

// Deps are what a Service is built from.
type Deps struct {
	Redis redis.UniversalClient
	Store *Store
	// Prefix starts every key (screening.key_prefix + "kyc").
	Prefix    string
	Secret    []byte // auth.jwt_secret; the token key is derived from it
	PublicURL string
	Orders    identityOrders
	Events    eventAppender
	Audit     auditAppender
	Mail      mailQueue
	Templates mailRenderer
	Logger    *slog.Logger
	Now       func() time.Time
	// Consumer names this process in the relay's consumer group.
	Consumer string
	// Registerer takes the metrics (nil: not exported).
	Registerer prometheus.Registerer
}

// Service is the KYC case workflow: links, uploads, officers' decisions,
// retention. Safe for concurrent use; every process runs one.
type Service struct {
	cfg    Config
	d      Deps
	tokens *Tokens
	base   string
	tag    string
	m      *metrics
	// claimIdle is how long a relay entry another process read stays its
	// own before this one takes it over (claimAfter; tests shorten it).
	claimIdle time.Duration
}

// PagePath is the customer's upload page on the public side.
const PagePath = "/_gateway/kyc"

// New builds the service from a validated Config.
func New(cfg Config, d Deps) (*Service, error) {
	var errs []error
	if d.Redis == nil || d.Store == nil || d.Orders == nil || d.Events == nil || d.Audit == nil {
		errs = append(errs, errors.New("Redis, Store, Orders, Events and Audit are required"))
	}
	if d.Now == nil || d.Consumer == "" || d.Prefix == "" {
		errs = append(errs, errors.New("Now, Consumer and Prefix are required"))
	}
	u, err := url.Parse(d.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("public_url %q must be an http(s) URL: KYC links point there", d.PublicURL))
	}
	tokens, err := NewTokens(d.Secret, cfg.LinkTTL, d.Now)
	if err != nil {
		errs = append(errs, err)
	}
	m, err := newMetrics(d.Registerer)
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("building kyc: %w", err)
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	d.Store.SetUploads(cfg.Uploads)
	return &Service{cfg: cfg, d: d, tokens: tokens, base: strings.TrimSuffix(d.PublicURL, "/"), tag: d.Prefix + "{kyc}:", m: m, claimIdle: claimAfter}, nil
}

// Keys: every key of every case shares the hash tag {kyc}, so each state
// change is one script on a standalone server and on Cluster alike. KYC
// is a low-volume workflow; one slot is enough.
func (s *Service) caseKey(id string) string   { return s.tag + "case:" + id }
func (s *Service) ixKey(st Status) string     { return s.tag + "ix:" + string(st) }
func (s *Service) acctKey(ref string) string  { return s.tag + "acct:" + ref }
func (s *Service) casesKey(ref string) string { return s.tag + "cases:" + ref }
func (s *Service) shaKey(sum string) string   { return s.tag + "sha:" + sum }
func (s *Service) jtiKey(jti string) string   { return s.tag + "jti:" + jti }
func (s *Service) claimKey(id string) string  { return s.tag + "claim:" + id }
func (s *Service) purgeKey() string           { return s.tag + "purge" }
func (s *Service) pendingKey() string         { return s.tag + "pending" }
func (s *Service) leaseKey() string           { return s.tag + "worker-lease" }
func (s *Service) statusKeys() []string {
	return []string{s.ixKey(StatusPending), s.ixKey(StatusApproved), s.ixKey(StatusRejected), s.ixKey(StatusResubmission)}
}

// KYCLink mints the link of a new case for owner's account (the orders
// service calls it for a held order waiting on KYC). name and email are
// the order's billing name and email, kept in the signed token for the
// officer's comparison and the resubmission mail.
func (s *Service) KYCLink(owner, accountID, name, email string) (string, error) {
	if owner == "" || accountID == "" {
		return "", fmt.Errorf("kyc link: an account is required: %w", ErrInvalidInput)
	}
	return s.link(owner, accountID, "", newID(), name, email)
}

// KYCEmailLink mints the link of a new case for an order of owner that
// came without an account id (an intercepted guest checkout): the case
// is bound to owner's email reference, emailHash being the keyed hash of
// the order's address the orders package keeps (the same reference its
// email verification completes), so that a decision reaches every held
// order of that owner and address, and no account with an id.
func (s *Service) KYCEmailLink(owner, emailHash, name, email string) (string, error) {
	if owner == "" || emailHash == "" {
		return "", fmt.Errorf("kyc link: an email reference is required: %w", ErrInvalidInput)
	}
	return s.link(owner, "", emailHash, newID(), name, email)
}

func (s *Service) link(owner, account, emailHash, caseID, name, email string) (string, error) {
	tok, err := s.tokens.Mint(owner, account, emailHash, caseID, name, email)
	if err != nil {
		return "", err
	}
	return s.base + PagePath + "?token=" + url.QueryEscape(tok), nil
}

// pending kinds of the case workflow's stream (relay.go).
const (
	kindEvent = "event"
	kindAudit = "audit"
	kindSync  = "sync"
	kindMail  = "mail"
)

type work struct {
	kind string
	body any
}

// syncOp tells the order lifecycle what a case means.
type syncOp struct {
	Op         string `json:"op"` // submitted, verified, rejected
	Owner      string `json:"owner"`
	Account    string `json:"account"`
	EmailHash  string `json:"email_hash,omitempty"`
	Case       string `json:"case"`
	Submission int    `json:"submission,omitempty"`
	Reason     string `json:"reason,omitempty"`
	Actor      string `json:"actor"`
}

// mailWork is a resubmission mail to queue.
type mailWork struct {
	ID     string        `json:"id"`
	To     string        `json:"to"`
	Link   string        `json:"link"`
	Reason string        `json:"reason"`
	TTL    time.Duration `json:"ttl"`
}

// eventWork is an event to publish.
type eventWork struct {
	Type string          `json:"type"`
	Time time.Time       `json:"time"`
	Data json.RawMessage `json:"data"`
}

// caseState is what events and audit entries say of a case: ids and
// states only, never documents, names or file hashes.
type caseState struct {
	Case       string `json:"case"`
	Account    string `json:"account"`
	Status     Status `json:"status"`
	Version    int64  `json:"version"`
	Submission int    `json:"submission,omitempty"`
	Documents  int    `json:"documents,omitempty"`
	Redacted   bool   `json:"redacted,omitempty"`
}

func stateOf(c *Case) caseState {
	n := 0
	for _, d := range c.Documents {
		if !d.Deleted {
			n++
		}
	}
	return caseState{Case: c.ID, Account: c.Ref(), Status: c.Status, Version: c.Version, Submission: c.Submissions, Documents: n, Redacted: c.Redacted}
}

// commitScript is the one write path of a case change: a compare-and-set
// on the case's version that, in one step, checks the officer's claim and
// the link's single use, writes the case and its status index, its
// retention deadline, the account's current case and the documents'
// content hashes, and appends the change's events, audit entry and order
// work to the pending stream (the relay delivers them at least once).
//
// KEYS: case, pending, purge, claim, account's current case, account's
// cases, jti, the four status indexes (pending, approved, rejected,
// resubmission_requested), then one key per document hash.
// ARGV: expected version ("0": new), new version, case JSON, status,
// index score, purge deadline ms ("" removes), case id, officer ("": no
// claim check), set the account's current case ("1"/""), jti ttl ms (""
// none), account ref, then pairs of pending kind and body.
//
// Returns "ok", "version" (another change won), "claimed" or "used".
var commitScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], 'version')
if ARGV[1] == '0' then
  if cur then return 'version' end
elseif cur ~= ARGV[1] then
  return 'version'
end
if ARGV[8] ~= '' then
  local holder = redis.call('GET', KEYS[4])
  if holder and holder ~= ARGV[8] then return 'claimed' end
end
if ARGV[10] ~= '' and redis.call('EXISTS', KEYS[7]) == 1 then return 'used' end
for i = 12, #ARGV, 2 do
  redis.call('XADD', KEYS[2], '*', 'kind', ARGV[i], 'body', ARGV[i + 1])
end
redis.call('HSET', KEYS[1], 'version', ARGV[2], 'case', ARGV[3], 'status', ARGV[4])
for i = 8, 11 do redis.call('ZREM', KEYS[i], ARGV[7]) end
local ix = {pending = 8, approved = 9, rejected = 10, resubmission_requested = 11}
redis.call('ZADD', KEYS[ix[ARGV[4]]], ARGV[5], ARGV[7])
if ARGV[6] == '' then redis.call('ZREM', KEYS[3], ARGV[7]) else redis.call('ZADD', KEYS[3], ARGV[6], ARGV[7]) end
if ARGV[8] ~= '' then redis.call('DEL', KEYS[4]) end
if ARGV[9] == '1' then
  redis.call('SET', KEYS[5], ARGV[7])
  redis.call('SADD', KEYS[6], ARGV[7])
end
if ARGV[10] ~= '' then redis.call('SET', KEYS[7], '1', 'PX', ARGV[10]) end
for i = 12, #KEYS do redis.call('HSET', KEYS[i], ARGV[11], ARGV[7]) end
return 'ok'
`)

// commitOpts are a commit's side conditions.
type commitOpts struct {
	officer string // claim check: the case must not be claimed by another
	account bool   // make this the account's current case
	jti     string // consume this link (fails "used" when consumed)
	jtiTTL  time.Duration
	hashes  []string // document hashes to index
}

// errRace is a commit that lost to another change of the same case.
var errRace = fmt.Errorf("the case changed meanwhile, try again: %w", ErrConflict)

func (s *Service) commit(ctx context.Context, prevVersion int64, c *Case, o commitOpts, ws ...work) error {
	raw, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encoding case %s: %w", c.ID, err)
	}
	purge := ""
	if !c.PurgeAt.IsZero() && !c.Redacted {
		purge = strconv.FormatInt(c.PurgeAt.UnixMilli(), 10)
	}
	jtiTTL := ""
	if o.jti != "" {
		jtiTTL = strconv.FormatInt(max(o.jtiTTL, time.Minute).Milliseconds(), 10)
	}
	acct := ""
	if o.account {
		acct = "1"
	}
	keys := []string{s.caseKey(c.ID), s.pendingKey(), s.purgeKey(), s.claimKey(c.ID), s.acctKey(c.Ref()), s.casesKey(c.Ref()), s.jtiKey(o.jti)}
	keys = append(keys, s.statusKeys()...)
	for _, h := range o.hashes {
		keys = append(keys, s.shaKey(h))
	}
	args := []any{prevVersion, c.Version, raw, string(c.Status), c.SubmittedAt.UnixMilli(), purge, c.ID, o.officer, acct, jtiTTL, c.Ref()}
	for _, w := range ws {
		b, err := json.Marshal(w.body)
		if err != nil {
			return fmt.Errorf("encoding %s work of case %s: %w", w.kind, c.ID, err)
		}
		args = append(args, w.kind, b)
	}
	out, err := commitScript.Run(ctx, s.d.Redis, keys, args...).Text()
	if err != nil {
		return fmt.Errorf("committing case %s: %w: %w", c.ID, ErrUnavailable, err)
	}
	switch out {
	case "ok":
		return nil
	case "claimed":
		return fmt.Errorf("case %s is claimed by another officer: %w", c.ID, ErrConflict)
	case "used":
		return errLinkUsed
	}
	return errRace
}

// errLinkUsed is an upload with a link already used.
var errLinkUsed = fmt.Errorf("this link was already used: %w", ErrConflict)

// load reads a case; nil, nil when there is none.
func (s *Service) load(ctx context.Context, id string) (*Case, error) {
	if !validID(id) {
		return nil, nil
	}
	raw, err := s.d.Redis.HGet(ctx, s.caseKey(id), "case").Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading case %s: %w: %w", id, ErrUnavailable, err)
	}
	var c Case
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		return nil, fmt.Errorf("decoding case %s: %w", id, err)
	}
	return &c, nil
}

// audit is the audit entry of a change of c: its id is the case and the
// new version (or what), the same on every redelivery.
func auditOf(c *Case, id, action, actor, addr string, now time.Time, before *caseState) work {
	after, _ := json.Marshal(stateOf(c))
	e := AuditEntry{ID: id, Time: now.UTC(), Actor: actor, Action: action, Account: c.Ref(), Addr: addr, After: after}
	if before != nil {
		e.Before, _ = json.Marshal(before)
	}
	return work{kindAudit, e}
}

func eventOf(c *Case, typ string, now time.Time) work {
	data, _ := json.Marshal(stateOf(c))
	return work{kindEvent, eventWork{Type: typ, Time: now.UTC(), Data: data}}
}

// syncOf is the order work of a change of c.
func syncOf(c *Case, op, actor string) syncOp {
	return syncOp{Op: op, Owner: c.Owner, Account: c.Account, EmailHash: c.EmailHash, Case: c.ID, Actor: actor}
}

func versionID(c *Case) string { return "kyc:" + c.ID + "/v" + strconv.FormatInt(c.Version, 10) }

// syncNow tells the order lifecycle at once what the relay will tell it
// again (idempotently): the caller's answer then reflects the orders. A
// failure here is only logged: the relay retries.
func (s *Service) syncNow(ctx context.Context, op syncOp) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := s.deliverSync(ctx, op); err != nil {
		s.d.Logger.WarnContext(ctx, "kyc: telling the orders now failed; the relay retries", "case", op.Case, "op", op.Op, "error", err)
	}
}

func (s *Service) deliverSync(ctx context.Context, op syncOp) error {
	switch op.Op {
	case "submitted":
		return s.d.Orders.KYCSubmitted(ctx, op.Owner, op.Account, op.EmailHash, op.Case, op.Submission, op.Actor)
	case "verified":
		return s.d.Orders.IdentityVerified(ctx, op.Owner, op.Account, op.EmailHash, op.Case, op.Actor)
	case "rejected":
		return s.d.Orders.IdentityRejected(ctx, op.Owner, op.Account, op.EmailHash, op.Case, op.Reason, op.Actor)
	}
	return fmt.Errorf("unknown order sync %q", op.Op)
}
