// Package minfraud is the gateway's client for MaxMind's minFraud Score,
// Insights and Factors web services and for the Report Transactions API.
//
// Place in the flow: the screening core maps an order to a [Request], calls
// [Client.Score] (which queries the configured service), and turns the
// [Response] into signals for its rules. When minFraud cannot give an answer
// (timeout, connection error, 5xx, bad credentials, out of funds, missing
// permission, an unreadable answer) the error wraps [ErrUnavailable]; a 400
// answer about our input wraps [ErrInvalidRequest] instead. Either way the
// order must not be accepted silently: the screening core sends it to review
// with reason minfraud_unavailable. Chargebacks and confirmed fraud go back to
// MaxMind with [Client.Report].
//
// The client logs each failed call once (Error for credentials, funds and
// permission, which need an operator; Warn for transient failures), with the
// service, HTTP status, MaxMind's error code and the transaction id, never the
// license key or an email address, so callers need not log it again. It
// records gateway_minfraud_requests_total{service,outcome} and
// gateway_minfraud_request_duration_seconds{service}.
package minfraud
