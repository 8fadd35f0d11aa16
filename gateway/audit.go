package gateway

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/vpsgate/gateway/audit"
	"github.com/vpsgate/gateway/internal/auth"
	"github.com/vpsgate/gateway/internal/clientip"
	"github.com/vpsgate/gateway/internal/logctx"
	"github.com/vpsgate/gateway/screening"
)

// auditLog is what the API needs of audit's *Log.
type auditLog interface {
	Append(ctx context.Context, e audit.Entry) (audit.Entry, error)
	Query(ctx context.Context, q audit.Query) (audit.Page, error)
}

// errNotAudited is an action done whose audit entry could not be written.
var errNotAudited = errors.New("action not audited")

// auditActor names a principal in the audit log: "officer:<name>",
// "admin:<name>", or "key:<name>" for a storefront's API key.
func auditActor(p auth.Principal) string {
	if p.Role == auth.RoleStorefront {
		return "key:" + p.Name
	}
	return string(p.Role) + ":" + p.Name
}

// record appends the caller's action to the audit log: who (the
// authenticated principal), what, when, from where (the client address,
// masked as in logs) and the state before and after (nil: none). The
// action has already happened when this runs (recording first would log
// actions that then fail); a failure to record it is answered 503
// not_audited and logged at error level, never silently dropped.
func (a *api) record(c *gin.Context, action string, before, after any) error {
	doc := func(v any) (json.RawMessage, error) {
		if v == nil {
			return nil, nil
		}
		return json.Marshal(v)
	}
	b, err := doc(before)
	if err != nil {
		return fmt.Errorf("encoding audit before: %w", err)
	}
	af, err := doc(after)
	if err != nil {
		return fmt.Errorf("encoding audit after: %w", err)
	}
	ip, _ := clientip.FromContext(c.Request.Context()) // set by allow
	_, err = a.Audit.Append(c.Request.Context(), audit.Entry{
		ID:     "api:" + rand.Text(),
		Time:   a.now(),
		Actor:  auditActor(principal(c)),
		Action: action,
		Addr:   logctx.MaskIP(ip),
		Before: b,
		After:  af,
	})
	if err != nil {
		return fmt.Errorf("%w: recording %s: %w", errNotAudited, action, err)
	}
	return nil
}

func (a *api) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// listAudit answers GET /api/v1/audit: entries newest first (sort=oldest
// for oldest first), filtered by order, account, actor, type (the action),
// since and until (RFC 3339; since inclusive, until exclusive), paginated
// by limit (1-1000, default 100) and after (the previous page's next).
func (a *api) listAudit(c *gin.Context) {
	q, err := auditQuery(c)
	if err != nil {
		a.fail(c, err)
		return
	}
	page, err := a.Audit.Query(c.Request.Context(), q)
	if err != nil {
		a.fail(c, err)
		return
	}
	if page.Entries == nil {
		page.Entries = []audit.Entry{}
	}
	a.ok(c, http.StatusOK, page)
}

func auditQuery(c *gin.Context) (audit.Query, error) {
	for key := range c.Request.URL.Query() {
		switch key {
		case "order", "account", "actor", "type", "since", "until", "after", "limit", "sort":
		default:
			return audit.Query{}, &screening.FieldError{Field: key, Problem: "is not a filter of the audit log (order, account, actor, type, since, until, after, limit, sort)"}
		}
		if len(c.QueryArray(key)) > 1 {
			return audit.Query{}, &screening.FieldError{Field: key, Problem: "is given more than once"}
		}
	}
	q := audit.Query{Order: c.Query("order"), Account: c.Query("account"), Actor: c.Query("actor"), Action: c.Query("type")}
	var err error
	timeParam := func(key string) time.Time {
		s := c.Query(key)
		if s == "" || err != nil {
			return time.Time{}
		}
		t, perr := time.Parse(time.RFC3339Nano, s)
		if perr != nil {
			err = &screening.FieldError{Field: key, Problem: "must be an RFC 3339 time, e.g. 2026-11-29T05:00:00Z"}
		}
		return t
	}
	q.Since, q.Until = timeParam("since"), timeParam("until")
	if err != nil {
		return audit.Query{}, err
	}
	if s := c.Query("after"); s != "" {
		n, perr := strconv.ParseInt(s, 10, 64)
		if perr != nil || n < 1 {
			return audit.Query{}, &screening.FieldError{Field: "after", Problem: "must be the next value of the previous page"}
		}
		q.After = n
	}
	if s := c.Query("limit"); s != "" {
		n, perr := strconv.Atoi(s)
		if perr != nil || n < 1 || n > audit.MaxLimit {
			return audit.Query{}, &screening.FieldError{Field: "limit", Problem: fmt.Sprintf("must be a number from 1 to %d", audit.MaxLimit)}
		}
		q.Limit = n
	}
	switch c.Query("sort") {
	case "", "newest":
	case "oldest":
		q.Oldest = true
	default:
		return audit.Query{}, &screening.FieldError{Field: "sort", Problem: "must be newest or oldest"}
	}
	return q, nil
}
