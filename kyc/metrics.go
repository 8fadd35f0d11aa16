package kyc

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics of the case workflow, on the registerer handed in.
type metrics struct {
	uploads   *prometheus.CounterVec
	decisions *prometheus.CounterVec
	redacted  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		uploads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gateway_kyc_uploads_total",
			Help: "KYC uploads by outcome: accepted, refused (bad link or input), unavailable (S3 or Redis down)."}, []string{"outcome"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gateway_kyc_decisions_total",
			Help: "Officers' decisions on KYC cases, by the case's new status."}, []string{"status"}),
		redacted: prometheus.NewCounter(prometheus.CounterOpts{Name: "gateway_kyc_cases_redacted_total",
			Help: "KYC cases whose documents were deleted (retention or erasure)."}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.uploads, m.decisions, m.redacted} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("registering kyc metrics: %w", err)
			}
		}
	}
	return m, nil
}

func (m *metrics) upload(err error) {
	switch {
	case err == nil:
		m.uploads.WithLabelValues("accepted").Inc()
	case errors.Is(err, ErrUnavailable):
		m.uploads.WithLabelValues("unavailable").Inc()
	default:
		m.uploads.WithLabelValues("refused").Inc()
	}
}
