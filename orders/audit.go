package orders

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/vpsgate/gateway/internal/clientip"
	"github.com/vpsgate/gateway/internal/logctx"
)

// AuditEntry is one audit log entry as the audit package (part A of issue
// 8) defines audit.Entry: the relay hands it to the audit log, whose
// Append is idempotent by ID, so a redelivered entry changes nothing. Seq,
// Prev and Hash are the log's to set.
type AuditEntry struct {
	ID      string          `json:"id"`
	Time    time.Time       `json:"time"`
	Actor   string          `json:"actor"`
	Action  string          `json:"action"`
	Order   string          `json:"order,omitempty"`
	Account string          `json:"account,omitempty"`
	Addr    string          `json:"addr,omitempty"`
	Before  json.RawMessage `json:"before,omitempty"`
	After   json.RawMessage `json:"after,omitempty"`
}

// AuditLog is where the relay appends audit entries (the audit package's
// *Log, through a small adapter where the lead wires it).
type AuditLog interface {
	Append(ctx context.Context, e AuditEntry) error
}

// auditBatcher is an AuditLog that appends many entries at the cost of
// one (the audit package's AppendBatch): the relay hands it each shard
// batch's entries together. Their Before and After are json.Marshal's
// output, byte for byte (commit and refund encode them, the pending
// stream carries them as they are), so the log may take them without
// checking them as JSON (audit's AppendBatchMarshaled).
type auditBatcher interface {
	AppendBatch(ctx context.Context, es []AuditEntry) error
}

// auditEntryOf is the audit entry of a change: its id is the order's
// screening id and the new version, unique and the same on every
// redelivery. after is c.Next's answer, encoded.
func auditEntryOf(prev *Record, c Change, after json.RawMessage, action, addr string) AuditEntry {
	r := c.Next
	e := AuditEntry{
		ID:     r.ScreeningID + "/v" + strconv.FormatInt(r.Version, 10),
		Time:   c.Entry.Time,
		Actor:  c.Entry.Actor,
		Action: action,
		Order:  r.ScreeningID,
		Addr:   addr,
	}
	e.Account = r.accountRef()
	if prev != nil {
		e.Before, _ = json.Marshal(prev.Answer())
	}
	e.After = after
	return e
}

// callerAddr is the address of whoever asked for a change, masked as in
// logs: the customer on the public side (an intercepted checkout, the
// verification page), the storefront or officer on the admin API; "" for
// the gateway's own work (expiry, the relay).
func callerAddr(ctx context.Context) string {
	if ip, ok := clientip.FromContext(ctx); ok {
		return logctx.MaskIP(ip)
	}
	return ""
}
