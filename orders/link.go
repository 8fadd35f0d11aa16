package orders

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/screening"
)

// Linking an intercepted checkout to the shop's own order.
//
// A checkout whose form carries no order id (WooCommerce, WHMCS) is stored
// under a gateway-made order id; the storefront learns the order's
// screening id from X-Screening-Id and, once it has created its own order,
// links the two: POST /api/v1/orders/{screening_id}/link with
// {"order_id": "<shop's id>"} and its API key. Afterwards the key reads
// (and reports events on) the checkout by either id.
//
// Keys: the link, in the slot of the screening id the shop's id would
// have as the key's own order ("link:" + that id), holds the checkout's
// screening id; the checkout's record has its reverse (record key +
// ":link"), holding the first. Both expire with screening.order_retention.
// They are set with SET NX one after the other (two slots on a Cluster): a
// process dying in between leaves the reverse alone, which the same link
// again completes and a different one is refused by (409), so a checkout
// is never linked to two shop ids nor a shop id to two checkouts.

func (s *Service) linkKey(aliasSID string) string {
	return s.tag(shardOf(aliasSID)) + "link:" + aliasSID
}
func (s *Service) reverseLinkKey(sid string) string {
	return s.recordKey(sid) + ":link"
}

// Link links the intercepted checkout sid to orderID, the shop's own id,
// in the namespace of a (a storefront's API key). Linking again to the
// same id is a no-op; to another id, or an id already linked to another
// checkout or used by one of the key's own API orders, is an error
// wrapping ErrConflict. It returns the checkout's answer with order_id
// orderID (the module checks that an answer is about the order it asked
// for); read by its screening id, the checkout keeps its gateway-made id.
func (s *Service) Link(ctx context.Context, a Access, sid, orderID string) (Result, error) {
	if a.Officer || !strings.HasPrefix(string(a.Owner), apiKeyOwnerPrefix) {
		return Result{}, &screening.FieldError{Field: "order_id", Problem: "only a storefront links a checkout to its own order id"}
	}
	if !screening.IsScreeningID(sid) {
		return Result{}, &screening.FieldError{Field: "screening_id", Problem: "must be the checkout's screening id (X-Screening-Id)"}
	}
	if !screening.ValidOrderID(orderID) || screening.IsScreeningID(orderID) {
		return Result{}, &screening.FieldError{Field: "order_id", Problem: "must be the shop's order id: letters, digits and . _ - :, not of the shape of a screening id"}
	}
	r, err := s.find(ctx, a, sid)
	if err != nil {
		return Result{}, err
	}
	if r.Owner != CheckoutOwner {
		return Result{}, &screening.FieldError{Field: "screening_id", Problem: "only an intercepted checkout is linked; an API order has its order_id already"}
	}
	alias := screeningID(s.hasher, a.Owner, orderID)
	own, err := s.rdb.Exists(ctx, s.recordKey(alias)).Result()
	if err != nil {
		return Result{}, unavailable("linking order "+sid, err)
	}
	if own > 0 {
		return Result{}, fmt.Errorf("order id %s is already an order of this key: %w", orderID, screening.ErrConflict)
	}
	created, err := s.claim(ctx, s.reverseLinkKey(sid), alias)
	if err != nil {
		return Result{}, fmt.Errorf("checkout %s is linked to another order id: %w", sid, err)
	}
	if _, err := s.claim(ctx, s.linkKey(alias), sid); err != nil {
		if created {
			// Undo our half, so that the checkout can still be linked.
			_ = s.rdb.Del(context.WithoutCancel(ctx), s.reverseLinkKey(sid)).Err()
		}
		return Result{}, fmt.Errorf("order id %s is linked to another checkout: %w", orderID, err)
	}
	// The record says so too, through the commit path (a timeline line
	// and an audit entry), so that the checkout's later events carry the
	// shop's id. A process dying before this leaves the keys above, which
	// the same link again finds and completes here.
	storefront := strings.TrimPrefix(string(a.Owner), apiKeyOwnerPrefix)
	c, err := s.apply(ctx, r, "order.linked", func(r Record) (Change, []pending, error) {
		c, err := Linked(r, storefront, orderID, string(a.Owner), s.now())
		return c, nil, err
	})
	switch {
	case errors.Is(err, ErrNoChange):
		// Linked already (the claims above say to this id).
	case err != nil:
		return Result{}, err
	default:
		r = c.Next
	}
	// The answer is about the shop's order now, as Get by that id says.
	res := r.Answer()
	res.OrderID = orderID
	return res, nil
}

// ShopLink is the shop's own order an intercepted checkout was linked to:
// the storefront (its API key's name) and the shop's order id.
type ShopLink struct {
	Storefront string `json:"storefront"`
	OrderID    string `json:"order_id"`
}

// Linked is the change recording that checkout r was linked to the
// storefront's order orderID: a timeline line, no event (the next event
// of the order carries the shop's id). ErrNoChange when r is linked to it
// already; another link is a conflict (the link keys make it one).
func Linked(r Record, storefront, orderID, actor string, now time.Time) (Change, error) {
	if l := r.ShopLink; l != nil {
		if *l == (ShopLink{Storefront: storefront, OrderID: orderID}) {
			return Change{}, fmt.Errorf("order %s is linked to %s already: %w", r.ScreeningID, orderID, ErrNoChange)
		}
		return Change{}, fmt.Errorf("order %s is linked to order %s of %s: %w", r.ScreeningID, l.OrderID, l.Storefront, screening.ErrConflict)
	}
	next := bump(r, now)
	next.ShopLink = &ShopLink{Storefront: storefront, OrderID: orderID}
	return Change{Next: next, Entry: entry(now, "linked", "", "linked to order "+orderID+" of storefront "+storefront, actor)}, nil
}

// claim sets key to value unless it holds another value (ErrConflict). It
// reports whether it set it.
func (s *Service) claim(ctx context.Context, key, value string) (bool, error) {
	ok, err := s.rdb.SetNX(ctx, key, value, s.retention).Result()
	if err != nil {
		return false, unavailable("linking", err)
	}
	if ok {
		return true, nil
	}
	got, err := s.rdb.Get(ctx, key).Result()
	switch {
	case errors.Is(err, redis.Nil):
		// Expired in between: claim again.
		return s.claim(ctx, key, value)
	case err != nil:
		return false, unavailable("linking", err)
	case got != value:
		return false, screening.ErrConflict
	}
	return false, nil
}

// linked returns the checkout a storefront's own order id is linked to.
func (s *Service) linked(ctx context.Context, aliasSID string) (string, bool, error) {
	sid, err := s.rdb.Get(ctx, s.linkKey(aliasSID)).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return "", false, nil
	case err != nil:
		return "", false, unavailable("reading order link", err)
	}
	return sid, true, nil
}
