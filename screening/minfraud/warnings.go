package minfraud

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// minFraud's warnings name inputs it could not use. The gateway maps every
// order the same way, so a warning is almost always a mapping problem that
// repeats on every order until it is fixed (the Score fixtures MaxMind's
// clients test with carry two on every answer): one log line per order
// would bury the other lines and cost a write per order. So each distinct
// set of warnings is logged once per warningLogEvery, with how many answers
// carried it since, and every warning is counted by code in
// gateway_minfraud_warnings_total. One order's warnings can still be read
// at MaxMind by its minfraud_id, which the order record keeps.
const warningLogEvery = time.Minute

// maxWarningSets bounds the sets remembered: past it the memory starts
// afresh (a burst of distinct sets logs more, never grows without bound);
// maxWarningKey bounds the bytes remembered of one set.
const (
	maxWarningSets = 256
	maxWarningKey  = 1024
)

// documentedCode says whether code is one of the warning codes minFraud
// documents; any other is counted as "other", so that the label's values
// stay few whatever an answer says.
func documentedCode(code string) bool {
	switch code {
	case "BILLING_CITY_NOT_FOUND", "BILLING_COUNTRY_MISSING", "BILLING_COUNTRY_NOT_FOUND",
		"BILLING_POSTAL_NOT_FOUND", "BILLING_REGION_NOT_FOUND", "EMAIL_ADDRESS_UNUSABLE",
		"INPUT_INVALID", "INPUT_UNKNOWN", "IP_ADDRESS_INVALID", "IP_ADDRESS_NOT_FOUND",
		"IP_ADDRESS_RESERVED", "SHIPPING_CITY_NOT_FOUND", "SHIPPING_COUNTRY_MISSING",
		"SHIPPING_COUNTRY_NOT_FOUND", "SHIPPING_POSTAL_NOT_FOUND", "SHIPPING_REGION_NOT_FOUND":
		return true
	}
	return false
}

// warningLog logs and counts the warnings of minFraud's answers.
type warningLog struct {
	logger *slog.Logger
	count  *prometheus.CounterVec
	now    func() time.Time

	mu   sync.Mutex
	seen map[string]*warningSet
}

// warningSet is what is remembered of one distinct set of warnings.
type warningSet struct {
	logged time.Time // when it was last logged
	since  int       // answers that carried it since, not logged
}

func newWarningLog(logger *slog.Logger, count *prometheus.CounterVec, now func() time.Time) *warningLog {
	return &warningLog{logger: logger, count: count, now: now, seen: make(map[string]*warningSet)}
}

// note counts ws, an answer's warnings, and logs them unless the same set
// was logged less than warningLogEvery ago. Only codes and input pointers
// are logged: a warning's text may quote the order's values.
func (l *warningLog) note(ctx context.Context, ws []Warning, minfraudID string, attrs []slog.Attr) {
	var key strings.Builder
	for i, w := range ws {
		code := w.Code
		if !documentedCode(code) {
			code = "other"
		}
		l.count.WithLabelValues(code).Inc()
		if i > 0 {
			key.WriteByte(',')
		}
		key.WriteString(w.Code)
		key.WriteByte(' ')
		key.WriteString(w.InputPointer)
	}
	k := key.String()
	if len(k) > maxWarningKey {
		// The sets are remembered: keep a copy of the bound, not the
		// whole string a slice of it would hold on to.
		k = strings.Clone(k[:maxWarningKey])
	}
	repeats, ok := l.due(k)
	if !ok {
		return
	}
	codes := make([]string, len(ws))
	for i, w := range ws {
		codes[i] = w.Code + " " + w.InputPointer
	}
	l.logger.LogAttrs(ctx, slog.LevelWarn, "minfraud input warnings", append(attrs,
		slog.String("minfraud_id", minfraudID), slog.Any("warnings", codes),
		slog.Int("repeats", repeats), slog.String("repeats_within", warningLogEvery.String()))...)
}

// due says whether the set key is to be logged now, and how many answers
// carried it since it was last logged.
func (l *warningLog) due(key string) (repeats int, ok bool) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.seen[key]
	if s == nil {
		if len(l.seen) >= maxWarningSets {
			clear(l.seen)
		}
		l.seen[key] = &warningSet{logged: now}
		return 0, true
	}
	if now.Sub(s.logged) < warningLogEvery {
		s.since++
		return 0, false
	}
	repeats = s.since
	s.logged, s.since = now, 0
	return repeats, true
}
