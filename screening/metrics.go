package screening

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	decisions           *prometheus.CounterVec
	ruleHits            *prometheus.CounterVec
	ruleErrors          prometheus.Counter
	minfraudUnavailable prometheus.Counter
	errors              *prometheus.CounterVec
	duration            prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer, ruleNames []string) (*metrics, error) {
	m := &metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_screening_decisions_total",
			Help: "Orders screened, by decision (accept, review, reject).",
		}, []string{"decision"}),
		ruleHits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_screening_rule_hits_total",
			Help: "Screening rules that fired, by rule name.",
		}, []string{"rule"}),
		ruleErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gateway_screening_rule_errors_total",
			Help: "Rules that failed at run time (each forced a review).",
		}),
		minfraudUnavailable: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gateway_screening_minfraud_unavailable_total",
			Help: "Orders screened without a minFraud answer (forced to review by the default rules).",
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_screening_errors_total",
			Help: "Dependency failures while screening, by dependency (redis: no decision; geoip: scored without location).",
		}, []string{"dependency"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "gateway_screening_duration_seconds",
			Help:    "Time to screen one order, Redis and minFraud included.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
	}
	// Series that exist from the start make rate() and alerts work before
	// the first hit.
	for _, o := range []Outcome{Accept, Review, Reject} {
		m.decisions.WithLabelValues(string(o))
	}
	for _, n := range ruleNames {
		m.ruleHits.WithLabelValues(n)
	}
	for _, d := range []string{"redis", "geoip"} {
		m.errors.WithLabelValues(d)
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.decisions, m.ruleHits, m.ruleErrors, m.minfraudUnavailable, m.errors, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering screening metrics (one Screener per registry): %w", err)
		}
	}
	return m, nil
}
