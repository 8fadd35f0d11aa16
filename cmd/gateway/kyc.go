package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vpsgate/gateway/audit"
	"github.com/vpsgate/gateway/internal/config"
	"github.com/vpsgate/gateway/internal/events"
	"github.com/vpsgate/gateway/kyc"
)

// buildKYC builds the KYC case workflow, or nil (with a warning) when it
// cannot make links: no auth.jwt_secret, or no public_url outside
// embedded mode. The order lifecycle is reached through lc, set before
// anything is served (the lifecycle mints KYC links with this service,
// and this service tells the lifecycle of decisions).
func buildKYC(cfg *config.Config, emb config.Embedded, st *stores, mailer *mailParts, logger *slog.Logger, reg prometheus.Registerer, lc **lifecycle) (*kyc.Service, error) {
	public := publicURL(cfg, emb)
	if cfg.Auth.JWTSecret == "" || public == "" {
		logger.Warn("kyc is off: set auth.jwt_secret and public_url; held orders waiting on kyc get no link")
		return nil, nil
	}
	svc, err := kyc.New(cfg.KYC, kyc.Deps{
		Redis:     st.rdb,
		Store:     st.s3,
		Prefix:    cfg.Screening.KeyPrefix + "kyc",
		Secret:    []byte(cfg.Auth.JWTSecret),
		PublicURL: public,
		Orders:    identityOrders{lc},
		Events:    events.New(st.rdb, cfg.Screening.KeyPrefix+"events", outboxMaxLen),
		Audit:     kycAudit{st.audit},
		Mail:      mailer.Outbox,
		Templates: mailer.Templates,
		Logger:    logger,
		Now:       time.Now,
		Consumer:  workerName(),

		Registerer: reg,
	})
	if err != nil {
		return nil, err
	}
	logger.Info("kyc documents", "bucket", cfg.S3.Bucket, "encryption", st.s3.Encryption())
	return svc, nil
}

// startKYC runs this process's KYC relay and its share of the retention
// worker (a lease shared by all processes).
func startKYC(ctx context.Context, cl *closers, svc *kyc.Service) {
	if svc == nil {
		return
	}
	cl.push(goRun(ctx, func(ctx context.Context) { svc.RunRelay(ctx, time.Second) }))
	cl.push(goRun(ctx, func(ctx context.Context) { svc.RunWorker(ctx, workerName()) }))
}

// kycPage is the customer's upload page, or nil when KYC is off.
func kycPage(svc *kyc.Service) (http.Handler, error) {
	if svc == nil {
		return nil, nil
	}
	h, err := svc.Handler()
	if err != nil {
		return nil, fmt.Errorf("building the kyc page: %w", err)
	}
	return h, nil
}

// identityOrders is the order lifecycle seen from kyc.
type identityOrders struct{ lc **lifecycle }

func (o identityOrders) KYCSubmitted(ctx context.Context, owner, accountID, emailHash, caseID string, n int, actor string) error {
	return (*o.lc).orders.KYCSubmitted(ctx, owner, accountID, emailHash, caseID, n, actor)
}

func (o identityOrders) IdentityVerified(ctx context.Context, owner, accountID, emailHash, caseID, actor string) error {
	return (*o.lc).orders.IdentityVerified(ctx, owner, accountID, emailHash, caseID, actor)
}

func (o identityOrders) IdentityRejected(ctx context.Context, owner, accountID, emailHash, caseID, reason, actor string) error {
	return (*o.lc).orders.IdentityRejected(ctx, owner, accountID, emailHash, caseID, reason, actor)
}

// kycAudit hands the kyc relay's audit entries to the audit log
// (idempotent by entry id).
type kycAudit struct{ log *audit.Log }

func (a kycAudit) Append(ctx context.Context, e kyc.AuditEntry) error {
	_, err := a.log.Append(ctx, audit.Entry{
		ID: e.ID, Time: e.Time, Actor: e.Actor, Action: e.Action, Account: e.Account, Addr: e.Addr, Before: e.Before, After: e.After,
	})
	return err
}

// kycMailer is the relay's kyc_request mailer: none when KYC is off (no
// order then has a KYC link to mail).
func kycMailer(svc *kyc.Service) interface {
	SendKYCRequest(ctx context.Context, owner, orderID, email, link, ref string) error
} {
	if svc == nil {
		return nil
	}
	return svc
}
