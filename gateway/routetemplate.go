package gateway

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"
)

// Metrics of the admin side are labelled by route template
// ("/api/v1/orders/:id", "/console/kyc/:id"), a fixed set, never by path.
// The admin engine (gin) knows the template only after routing, inside
// observe; withRouteTemplate hands observe a slot the engine fills in.

type routeSlotKey struct{}

type routeSlot struct{ template string }

// withRouteTemplate gives each admin request an empty slot.
func withRouteTemplate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), routeSlotKey{}, &routeSlot{})))
	})
}

// recordRouteTemplate is the admin engine's first middleware: it fills the
// slot with the matched route's template (empty for no route).
func recordRouteTemplate(c *gin.Context) {
	if s, ok := c.Request.Context().Value(routeSlotKey{}).(*routeSlot); ok {
		s.template = c.FullPath()
	}
}

// adminRouteTemplate names an admin request for metrics: the engine's
// route template when one matched, else adminRoute's coarse name.
func adminRouteTemplate(r *http.Request) string {
	if s, ok := r.Context().Value(routeSlotKey{}).(*routeSlot); ok && s.template != "" {
		return s.template
	}
	return adminRoute(r)
}
