package events

// Event types of account standing (issue 11); account.restricted is with
// the order events.
const (
	// OrderFlaggedForTermination: the order's account charged back, every
	// order of it is to be terminated.
	OrderFlaggedForTermination = "order.flagged_for_termination"
	// OrderPaid: the storefront reported when the order was paid.
	OrderPaid = "order.paid"
)
