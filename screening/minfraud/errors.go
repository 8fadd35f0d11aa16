package minfraud

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Sentinel errors. Every error from Score and Report wraps exactly one.
var (
	// ErrUnavailable means minFraud gave no usable answer: timeout,
	// connection failure, 5xx, 401/402/403 (credentials, funds,
	// permission), a redirect, or an unreadable response. The order goes
	// to review with reason minfraud_unavailable.
	ErrUnavailable = errors.New("minfraud unavailable")
	// ErrInvalidRequest means minFraud (HTTP 400) or the client itself
	// refused the request's content, e.g. IP_ADDRESS_INVALID. Upstream it
	// also leads to review, but it points at our input, not at MaxMind.
	ErrInvalidRequest = errors.New("minfraud refused the request")
)

// APIError is an HTTP error answer from minFraud. Get it with
// errors.AsType[*minfraud.APIError](err).
type APIError struct {
	// Status is the HTTP status code.
	Status int
	// Code is MaxMind's machine code (IP_ADDRESS_INVALID,
	// AUTHORIZATION_INVALID, INSUFFICIENT_FUNDS, ...); empty when the
	// answer had no JSON error body.
	Code string
	// Message is MaxMind's human description, with anything that looks
	// like an email address redacted (MaxMind may quote the input).
	Message string
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("HTTP %d", e.Status)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// emailLike matches what could be an email address inside an error
// message, so that it never reaches logs.
var emailLike = regexp.MustCompile(`[^\s"'<>()\[\],;:]+@[^\s"'<>()\[\],;:]+`)

// maxMessageLen bounds MaxMind's error text kept in an error.
const maxMessageLen = 300

func sanitizeMessage(s string) string {
	if len(s) > maxMessageLen {
		s = strings.ToValidUTF8(s[:maxMessageLen], "") + "..."
	}
	return emailLike.ReplaceAllString(s, "[redacted]")
}
