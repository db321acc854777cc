package queue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The ledger records which batches of a resumable load are stored, so a Run
// that carries on after a crash skips them. The server's own de-duplication
// cannot be relied on for that: it forgets the ids of batches already
// delivered and removed when it restarts.

// LedgerStreamName is the ledger stream: BRIDGE_<pipeline>_LEDGER.
func (q *Queue) LedgerStreamName() string { return q.StreamName() + "_LEDGER" }

func (q *Queue) ledgerSubject(loadID string) string {
	return q.subjectBase("ledger") + "." + Token(loadID)
}

func (q *Queue) ensureLedger(ctx context.Context) (jetstream.Stream, error) {
	s, _, err := q.ensureStream(ctx, jetstream.StreamConfig{
		Name:        q.LedgerStreamName(),
		Description: "bridge pipeline " + q.cfg.Pipeline + ": batches stored by loads that may be resumed",
		Subjects:    []string{q.subjectBase("ledger") + ".>"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    q.replicas,
		MaxAge:      7 * 24 * time.Hour,
	})
	return s, err
}

// Record makes the publisher note every batch of loadID in the ledger once
// the server has stored it.
func (p *Publisher) Record(ctx context.Context, loadID string) error {
	if _, err := p.q.ensureLedger(ctx); err != nil {
		return err
	}
	p.ledger = p.q.ledgerSubject(loadID)
	return nil
}

// note records a stored batch; best effort: a missing note costs a duplicate
// after a crash, never a lost batch.
func (p *Publisher) note(msg *nats.Msg) {
	if p.ledger != "" {
		_ = p.q.nc.Publish(p.ledger, []byte(msg.Header.Get(jetstream.MsgIDHeader)))
	}
}

// Stored returns the ids of the batches of loadID the ledger knows are stored.
func (q *Queue) Stored(ctx context.Context, loadID string) (map[string]bool, error) {
	s, err := q.ensureLedger(ctx)
	if err != nil {
		return nil, err
	}
	subj := q.ledgerSubject(loadID)
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(subj))
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", q.LedgerStreamName(), err)
	}
	out := map[string]bool{}
	if info.State.Subjects[subj] == 0 {
		return out, nil
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return out, fmt.Errorf("ledger %d: %w", seq, err)
		}
		if m.Subject == subj {
			out[string(m.Data)] = true
		}
	}
	return out, nil
}

// ForgetLoad removes a load's notes once its input is all stored.
func (q *Queue) ForgetLoad(ctx context.Context, loadID string) error {
	s, err := q.ensureLedger(ctx)
	if err != nil {
		return err
	}
	if err := s.Purge(ctx, jetstream.WithPurgeSubject(q.ledgerSubject(loadID))); err != nil {
		return fmt.Errorf("purge ledger of load %s: %w", loadID, err)
	}
	return nil
}
