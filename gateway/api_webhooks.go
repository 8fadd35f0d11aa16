package gateway

import (
	"context"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/vpsgate/gateway/screening"
	"github.com/vpsgate/gateway/webhooks"
)

// webhookService is what the API needs of webhooks's *Service.
type webhookService interface {
	List(ctx context.Context, q webhooks.Query) (webhooks.Page, error)
	Get(ctx context.Context, id string) (webhooks.Delivery, error)
	Replay(ctx context.Context, id string) (webhooks.Delivery, error)
	ReplayDeadLetters(ctx context.Context, endpoint string) (int, error)
	EndpointStates(ctx context.Context) ([]webhooks.EndpointState, error)
	Enable(ctx context.Context, endpoint string) (webhooks.EndpointState, error)
}

// webhookRoutes registers the officer's view of webhook deliveries.
func (a *api) webhookRoutes(v1 *gin.RouterGroup, officer gin.HandlerFunc) {
	v1.GET("/webhooks/deliveries", officer, a.listWebhookDeliveries)
	v1.GET("/webhooks/deliveries/:id", officer, a.getWebhookDelivery)
	v1.POST("/webhooks/deliveries/:id/replay", officer, a.replayWebhookDelivery)
	v1.GET("/webhooks/endpoints", officer, a.listWebhookEndpoints)
	v1.POST("/webhooks/endpoints/:name/replay-dead-letters", officer, a.replayWebhookDeadLetters)
	v1.POST("/webhooks/endpoints/:name/enable", officer, a.enableWebhookEndpoint)
}

// listWebhookDeliveries answers GET /api/v1/webhooks/deliveries: newest
// first, filtered by endpoint, event (type), order (screening id) and
// state (pending, delivered, dead), paginated by limit (1-500, default
// 100) and after (the previous page's next).
func (a *api) listWebhookDeliveries(c *gin.Context) {
	for key := range c.Request.URL.Query() {
		switch key {
		case "endpoint", "event", "order", "state", "after", "limit":
		default:
			a.fail(c, &screening.FieldError{Field: key, Problem: "is not a filter of webhook deliveries (endpoint, event, order, state, after, limit)"})
			return
		}
		if len(c.QueryArray(key)) > 1 {
			a.fail(c, &screening.FieldError{Field: key, Problem: "is given more than once"})
			return
		}
	}
	q := webhooks.Query{Endpoint: c.Query("endpoint"), Event: c.Query("event"), Order: c.Query("order"), State: c.Query("state"), After: c.Query("after")}
	if s := c.Query("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > webhooks.MaxLimit {
			a.fail(c, &screening.FieldError{Field: "limit", Problem: "must be a number from 1 to " + strconv.Itoa(webhooks.MaxLimit)})
			return
		}
		q.Limit = n
	}
	page, err := a.Webhooks.List(c.Request.Context(), q)
	if err != nil {
		a.fail(c, err)
		return
	}
	if page.Deliveries == nil {
		page.Deliveries = []webhooks.Delivery{}
	}
	a.ok(c, http.StatusOK, page)
}

func (a *api) getWebhookDelivery(c *gin.Context) {
	d, err := a.Webhooks.Get(c.Request.Context(), c.Param("id"))
	if err != nil {
		a.fail(c, err)
		return
	}
	a.ok(c, http.StatusOK, d)
}

// replayWebhookDelivery queues a new attempt with the same webhook-id.
func (a *api) replayWebhookDelivery(c *gin.Context) {
	d, err := a.replayDelivery(c, c.Param("id"))
	if err != nil {
		a.fail(c, err)
		return
	}
	a.ok(c, http.StatusAccepted, d)
}

// replayDelivery queues the replay and audits it (the API's and the
// console's one way to replay).
func (a *api) replayDelivery(c *gin.Context, id string) (webhooks.Delivery, error) {
	d, err := a.Webhooks.Replay(c.Request.Context(), id)
	if err != nil {
		return webhooks.Delivery{}, err
	}
	return d, a.record(c, "webhook.replayed", nil, map[string]string{"delivery": d.ID, "endpoint": d.Endpoint, "event": d.EventID, "type": d.Type, "order": d.Order})
}

func (a *api) listWebhookEndpoints(c *gin.Context) {
	eps, err := a.Webhooks.EndpointStates(c.Request.Context())
	if err != nil {
		a.fail(c, err)
		return
	}
	a.ok(c, http.StatusOK, map[string]any{"endpoints": eps})
}

// replayWebhookDeadLetters queues a new attempt at every dead letter of
// the endpoint.
func (a *api) replayWebhookDeadLetters(c *gin.Context) {
	name := c.Param("name")
	n, err := a.Webhooks.ReplayDeadLetters(c.Request.Context(), name)
	if err != nil {
		a.fail(c, err)
		return
	}
	if err := a.record(c, "webhook.dead_letters_replayed", nil, map[string]any{"endpoint": name, "replayed": n}); err != nil {
		a.fail(c, err)
		return
	}
	a.ok(c, http.StatusAccepted, map[string]any{"endpoint": name, "replayed": n})
}

// enableWebhookEndpoint lets an endpoint disabled by a 410 receive again.
func (a *api) enableWebhookEndpoint(c *gin.Context) {
	name := c.Param("name")
	before, err := a.Webhooks.Enable(c.Request.Context(), name)
	if err != nil {
		a.fail(c, err)
		return
	}
	if err := a.record(c, "webhook.endpoint_enabled", map[string]any{"endpoint": name, "disabled": before.Disabled, "reason": before.Reason},
		map[string]any{"endpoint": name, "disabled": false}); err != nil {
		a.fail(c, err)
		return
	}
	a.ok(c, http.StatusOK, map[string]any{"endpoint": name, "was_disabled": before.Disabled, "disabled": false})
}
