package orders

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/vpsgate/gateway/screening"
)

// Orders stored by the gateway before this package (issue 8) sit under
// <key_prefix>order:{<screening id>} (or {<order_id>} for orders from before
// owners, see LegacyOwner), a hash whose "result" is the API answer and
// "private" the data later events need. load moves such an order into the
// record layout the first time it is addressed, through the commit path,
// so a chargeback months after an upgrade still finds its order. The old
// keys are left to expire with screening.order_retention.

// legacyKey is the old layout's record key of sid.
func (s *Service) legacyKey(sid string) string { return s.prefix + "order:{" + sid + "}" }

// legacyPrivate is the old layout's "private" field.
type legacyPrivate struct {
	AccountID  string `json:"account_id,omitempty"`
	CardBIN    string `json:"card_bin,omitempty"`
	CardLast4  string `json:"card_last4,omitempty"`
	IP         string `json:"ip"`
	MinFraudID string `json:"minfraud_id,omitempty"`
}

// migrate moves the old-layout order sid, if there is one, into a record,
// and returns it; ErrNotFound when there is none.
func (s *Service) migrate(ctx context.Context, sid string) (Record, error) {
	vals, err := s.rdb.HMGet(ctx, s.legacyKey(sid), "result", "private", "fp").Result()
	if err != nil {
		return Record{}, unavailable("reading order "+sid, err)
	}
	raw, _ := vals[0].(string)
	if raw == "" {
		return Record{}, fmt.Errorf("order %s: %w", sid, screening.ErrNotFound)
	}
	var old Result
	if err := json.Unmarshal([]byte(raw), &old); err != nil {
		return Record{}, fmt.Errorf("decoding stored order %s: %w", sid, err)
	}
	var priv legacyPrivate
	if p, _ := vals[1].(string); p != "" {
		if err := json.Unmarshal([]byte(p), &priv); err != nil {
			return Record{}, fmt.Errorf("decoding stored order %s: %w", sid, err)
		}
	}
	fp, _ := vals[2].(string)
	now := s.now()
	r := Record{
		Version: 1, ScreeningID: sid, OrderID: old.OrderID, Owner: old.Owner, Status: old.Status,
		Decision: old.Decision, Score: old.Score, Reasons: old.Reasons, Requirements: old.Requirements,
		CreatedAt: old.CreatedAt, UpdatedAt: now.UTC(), AccountID: priv.AccountID,
		Private: Private{CardBIN: priv.CardBIN, CardLast4: priv.CardLast4, IP: priv.IP, MinFraudID: priv.MinFraudID},
	}
	if r.Status == StatusHeld {
		// Its hold ran from its creation; a stale one expires at the
		// worker's next pass.
		r.HoldUntil = old.CreatedAt.Add(s.policy.expireAfter)
	}
	c := Change{Next: r, Entry: entry(now, "migrated", "", "moved from the record layout before issue 8", "system")}
	st, err := s.commit(ctx, nil, c, fp, "order.migrated")
	if err != nil {
		return Record{}, err
	}
	if st != nil {
		return st.record, nil // migrated meanwhile
	}
	return r, nil
}

// loadOrMigrate is load, moving an old-layout order on the way.
func (s *Service) loadOrMigrate(ctx context.Context, sid string) (Record, error) {
	r, err := s.load(ctx, sid)
	if errors.Is(err, screening.ErrNotFound) {
		return s.migrate(ctx, sid)
	}
	return r, err
}
