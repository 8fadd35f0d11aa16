package kyc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// The retention worker: one process at a time (a Redis lease) deletes the
// documents of cases whose retention ended, marking the case redacted
// (the case record and the audit trail stay), and removes orphans:
// objects no case names (an upload that failed while S3 or Redis was
// down) and multipart uploads left unfinished, once older than
// kyc.orphan_grace.

var leaseScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`)

// Hold takes or renews the worker lease for owner; it says whether owner
// holds it.
func (s *Service) hold(ctx context.Context, owner string) (bool, error) {
	n, err := leaseScript.Run(ctx, s.d.Redis, []string{s.leaseKey()}, owner, (3 * s.cfg.WorkerInterval).Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("taking the kyc worker lease: %w: %w", ErrUnavailable, err)
	}
	return n == 1, nil
}

// Purge deletes the documents of up to batch cases whose retention has
// ended and says how many cases it redacted.
func (s *Service) Purge(ctx context.Context, batch int64) (int, error) {
	now := s.d.Now()
	ids, err := s.d.Redis.ZRangeByScore(ctx, s.purgeKey(), &redis.ZRangeBy{
		Min: "-inf", Max: strconv.FormatInt(now.UnixMilli(), 10), Count: batch,
	}).Result()
	if err != nil {
		return 0, fmt.Errorf("reading cases due for deletion: %w: %w", ErrUnavailable, err)
	}
	n := 0
	var errs []error
	for _, id := range ids {
		if err := s.redact(ctx, id, ActionRedacted, "system", "", now); err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// redact deletes a case's documents, then records it redacted (with its
// audit entry). Objects go first: a crash between leaves a case still
// due, and deleting again is harmless.
func (s *Service) redact(ctx context.Context, id, action, actor, addr string, now time.Time) error {
	for range 4 {
		c, err := s.load(ctx, id)
		if err != nil {
			return err
		}
		if c == nil {
			return s.d.Redis.ZRem(ctx, s.purgeKey(), id).Err()
		}
		if err := s.deleteObjects(ctx, c.ID); err != nil {
			return err
		}
		if c.Redacted && action == ActionRedacted {
			return s.d.Redis.ZRem(ctx, s.purgeKey(), id).Err()
		}
		if err := s.forgetHashes(ctx, c); err != nil {
			return err
		}
		before := stateOf(c)
		next := redacted(*c, now)
		err = s.commit(ctx, c.Version, &next, commitOpts{}, auditOf(&next, versionID(&next), action, actor, addr, now, &before))
		if err == nil {
			s.m.redacted.Inc()
		}
		if !errors.Is(err, errRace) {
			return err
		}
	}
	return errRace
}

// forgetHashes removes the case's documents from the duplicate index: a
// deleted document no longer flags anyone.
func (s *Service) forgetHashes(ctx context.Context, c *Case) error {
	pipe := s.d.Redis.Pipeline()
	for _, d := range c.Documents {
		if d.SHA256 != "" {
			pipe.HDel(ctx, s.shaKey(d.SHA256), c.Ref())
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("forgetting document hashes of case %s: %w: %w", c.ID, ErrUnavailable, err)
	}
	return nil
}

func (s *Service) deleteObjects(ctx context.Context, caseID string) error {
	var keys []string
	if err := s.d.Store.List(ctx, "kyc/"+caseID+"/", func(o ObjectInfo) bool {
		keys = append(keys, o.Key)
		return true
	}); err != nil {
		return err
	}
	for _, k := range keys {
		if err := s.d.Store.Delete(ctx, k); err != nil {
			return err
		}
	}
	return nil
}

// Erase deletes every document of an account (an admin's erasure on the
// customer's request): each of its cases is redacted, with an audit entry
// naming the admin. It says how many cases it redacted.
func (s *Service) Erase(ctx context.Context, owner, account, admin, addr string) (int, error) {
	if owner == "" || account == "" {
		return 0, &FieldError{Field: "account", Problem: "owner and account are required"}
	}
	return s.eraseRef(ctx, subjectRef(owner, account, ""), admin, addr)
}

// EraseCase deletes every document of the identity case id checks (its
// account, or the email reference of orders without an account id, which
// no account id names): every case of it is redacted, as Erase does. It
// says how many cases it redacted.
func (s *Service) EraseCase(ctx context.Context, id, admin, addr string) (int, error) {
	c, err := s.load(ctx, id)
	if err != nil {
		return 0, err
	}
	if c == nil {
		return 0, fmt.Errorf("case %s: %w", id, ErrNotFound)
	}
	return s.eraseRef(ctx, c.Ref(), admin, addr)
}

func (s *Service) eraseRef(ctx context.Context, ref, admin, addr string) (int, error) {
	ids, err := s.d.Redis.SMembers(ctx, s.casesKey(ref)).Result()
	if err != nil {
		return 0, fmt.Errorf("reading the account's cases: %w: %w", ErrUnavailable, err)
	}
	now := s.d.Now()
	n := 0
	for _, id := range ids {
		if err := s.redact(ctx, id, ActionErased, admin, addr, now); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// SweepOrphans removes objects under kyc/ that no case names as a
// document, and unfinished multipart uploads, older than the grace. It
// says how many objects it removed.
func (s *Service) SweepOrphans(ctx context.Context) (int, error) {
	cutoff := s.d.Now().Add(-s.cfg.OrphanGrace)
	if err := s.d.Store.AbortUploads(ctx, "kyc/", cutoff); err != nil {
		return 0, err
	}
	var old []string
	if err := s.d.Store.List(ctx, "kyc/", func(o ObjectInfo) bool {
		if o.LastModified.Before(cutoff) && o.Key != probeKey {
			old = append(old, o.Key)
		}
		return true
	}); err != nil {
		return 0, err
	}
	cases := map[string]*Case{}
	n := 0
	for _, key := range old {
		caseID, docID, ok := parseDocumentKey(key)
		if ok {
			c, seen := cases[caseID]
			if !seen {
				var err error
				if c, err = s.load(ctx, caseID); err != nil {
					return n, err
				}
				cases[caseID] = c
			}
			if c != nil && !c.Redacted && c.has(docID) {
				continue
			}
		}
		if err := s.d.Store.Delete(ctx, key); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func (c *Case) has(docID string) bool {
	for _, d := range c.Documents {
		if d.ID == docID && !d.Deleted {
			return true
		}
	}
	return false
}

// WorkOnce runs the worker's duties once if owner holds the lease.
func (s *Service) WorkOnce(ctx context.Context, owner string) error {
	ok, err := s.hold(ctx, owner)
	if err != nil || !ok {
		return err
	}
	var errs []error
	if n, err := s.Purge(ctx, 100); err != nil {
		errs = append(errs, err)
	} else if n > 0 {
		s.d.Logger.InfoContext(ctx, "kyc documents deleted after retention", "cases", n)
	}
	if n, err := s.SweepOrphans(ctx); err != nil {
		errs = append(errs, err)
	} else if n > 0 {
		s.d.Logger.InfoContext(ctx, "kyc orphan objects removed", "objects", n)
	}
	return errors.Join(errs...)
}

// RunWorker runs the retention worker until ctx ends.
func (s *Service) RunWorker(ctx context.Context, owner string) {
	t := time.NewTicker(s.cfg.WorkerInterval)
	defer t.Stop()
	for {
		if err := s.WorkOnce(ctx, owner); err != nil && ctx.Err() == nil {
			s.d.Logger.LogAttrs(ctx, slog.LevelError, "kyc retention worker", slog.String("error", err.Error()))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
