package queue

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"net/url"
	"strconv"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Headers every batch message carries.
const (
	HdrLoadID        = "Bridge-Load-Id"
	HdrTable         = "Bridge-Table" // path-escaped table name
	HdrSeq           = "Bridge-Batch-Seq"
	HdrRows          = "Bridge-Rows"
	HdrSchemaVersion = "Bridge-Schema-Version"
	HdrFormat        = "Bridge-Format"
	HdrChecksum      = "Bridge-Checksum" // CRC-32C of the payload, hex
	HdrObject        = "Bridge-Object"   // set when the payload is in the Object Store
	HdrSize          = "Bridge-Size"     // payload bytes
	HdrTarget        = "Bridge-Target"   // set on a replayed dead letter: the one destination meant to take it
	HdrBatchID       = "Bridge-Batch-Id" // set on a replayed dead letter: the batch id the destination saw before
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// BatchHeader is what a batch message's headers say about its batch.
type BatchHeader struct {
	LoadID        string
	Table         string
	Seq           int // of the batch within its table and load, from 1
	Rows          int
	SchemaVersion int
	Format        string
	// Read is when the producer read the batch's oldest row (its clock);
	// zero when unknown. It measures produce-to-call latency.
	Read time.Time
}

// set writes the header fields (the table name path-escaped).
func (b BatchHeader) set(h nats.Header) {
	h.Set(HdrLoadID, b.LoadID)
	h.Set(HdrTable, url.PathEscape(b.Table))
	h.Set(HdrSeq, strconv.Itoa(b.Seq))
	h.Set(HdrRows, strconv.Itoa(b.Rows))
	h.Set(HdrSchemaVersion, strconv.Itoa(b.SchemaVersion))
	h.Set(HdrFormat, b.Format)
	if !b.Read.IsZero() {
		h.Set(HdrRead, strconv.FormatInt(b.Read.UnixMicro(), 10))
	}
}

// HdrRead is when the producer read a batch's oldest row, in Unix
// microseconds.
const HdrRead = "Bridge-Read"

// batchHeaderOf reads the header fields back.
func batchHeaderOf(h nats.Header) BatchHeader {
	b := BatchHeader{LoadID: h.Get(HdrLoadID), Format: h.Get(HdrFormat)}
	var err error
	if b.Table, err = url.PathUnescape(h.Get(HdrTable)); err != nil {
		b.Table = h.Get(HdrTable)
	}
	b.Seq, _ = strconv.Atoi(h.Get(HdrSeq))
	b.Rows, _ = strconv.Atoi(h.Get(HdrRows))
	b.SchemaVersion, _ = strconv.Atoi(h.Get(HdrSchemaVersion))
	if us, err := strconv.ParseInt(h.Get(HdrRead), 10, 64); err == nil {
		b.Read = time.UnixMicro(us)
	}
	return b
}

// Batch is one batch to publish.
type Batch struct {
	BatchHeader
	Payload []byte
}

// MsgID is the batch's Nats-Msg-Id: derived from pipeline, load, table and
// sequence, so republishing the same batch is de-duplicated by the server.
// It is also the stable batch id handed to destinations.
func (q *Queue) MsgID(loadID, table string, seq int) string {
	return q.cfg.Pipeline + "." + loadID + "." + Token(table) + "." + strconv.Itoa(seq)
}

func checksum(p []byte) string {
	return strconv.FormatUint(uint64(crc32.Checksum(p, castagnoli)), 16)
}

// Publisher publishes batches asynchronously, a bounded number at a time.
// It is not safe for concurrent use.
type Publisher struct {
	q       *Queue
	window  int
	pending []pendingPub
	lastSeq uint64
	ledger  string // subject to note stored batches on (see Record)

	// OnStored, if set, is called with the rows of each batch once the
	// server has stored it.
	OnStored func(rows int)
}

// pendingPub is a batch published asynchronously, not yet stored.
type pendingPub struct {
	f  jetstream.PubAckFuture
	at time.Time // when it was sent: AckTimeout counts from there
	// conns is the connection's reconnect count when it was sent: an ack
	// the server owed from before a reconnect may never come, so such a
	// publish is sent again at once.
	conns uint64
}

// NewPublisher returns a Publisher with at most window unacknowledged publishes.
func (q *Queue) NewPublisher(window int) *Publisher {
	if window < 1 {
		window = 1
	}
	return &Publisher{q: q, window: window}
}

// Publish sends one batch. Payloads over the server's max payload are stored
// in the Object Store and the message carries a reference.
func (p *Publisher) Publish(ctx context.Context, b Batch) error {
	q := p.q
	id := q.MsgID(b.LoadID, b.Table, b.Seq)
	msg := &nats.Msg{Subject: q.TableSubject(b.Table), Header: nats.Header{}}
	h := msg.Header
	h.Set(jetstream.MsgIDHeader, id)
	b.set(h)
	h.Set(HdrChecksum, checksum(b.Payload))
	h.Set(HdrSize, strconv.Itoa(len(b.Payload)))
	if len(b.Payload) > q.maxInline {
		if err := q.putObject(ctx, id, b.Payload, nil); err != nil {
			return err
		}
		h.Set(HdrObject, id)
	} else {
		msg.Data = b.Payload
	}
	// Take in what is already stored (so the ledger hears of it soon), then
	// wait while the window is full.
	for len(p.pending) > 0 && p.pending[0].f.Ok() != nil && len(p.pending[0].f.Ok()) > 0 {
		if err := p.waitOldest(ctx); err != nil {
			return err
		}
	}
	for len(p.pending) >= p.window {
		if err := p.waitOldest(ctx); err != nil {
			return err
		}
	}
	f, err := q.js.PublishMsgAsync(msg)
	if err != nil {
		// Disconnected, or the reconnect buffer is full: publish again,
		// synchronously, until the server is back.
		ack, rerr := p.republish(ctx, msg, err)
		if rerr != nil {
			return fmt.Errorf("publish batch %s: %w (and again: %w)", id, err, rerr)
		}
		p.stored(ctx, msg, ack)
		return nil
	}
	p.pending = append(p.pending, pendingPub{f: f, at: time.Now(), conns: p.q.nc.Stats().Reconnects})
	return nil
}

// AckTimeout bounds the wait for the server to store one published batch,
// from when it was sent; a batch still not stored then is published again,
// synchronously (its Nats-Msg-Id makes a second copy harmless). An ack can be
// lost for good: when the stream's leader in a cluster goes away, the
// batches it had not acknowledged get no answer, and a new leader is
// elected within seconds (nats-server's raft: 4 to 9 s). Counting from the
// send, all of a window's lost acks expire together, not one after the
// other.
var AckTimeout = 10 * time.Second

func (p *Publisher) waitOldest(ctx context.Context) error {
	pp := p.pending[0]
	f := pp.f
	var ack *jetstream.PubAck
	select {
	case ack = <-f.Ok(): // stored already: the common case costs no timer
	default:
		var err error
		if ack, err = p.awaitAck(ctx, pp); err != nil {
			return err
		}
	}
	p.stored(ctx, f.Msg(), ack)
	p.pending[0] = pendingPub{}
	p.pending = p.pending[1:]
	return nil
}

// reconnectGrace is how long after a reconnect a publish sent before it is
// still given for its ack before it is sent again.
const reconnectGrace = time.Second

// awaitAck waits for the server to store pp, publishing it again when its ack
// is lost: AckTimeout after it was sent, a moment after a reconnect (the ack
// may have gone with the old connection), or when the server answered with
// an error (it may be restarting).
func (p *Publisher) awaitAck(ctx context.Context, pp pendingPub) (*jetstream.PubAck, error) {
	f := pp.f
	id := f.Msg().Header.Get(jetstream.MsgIDHeader)
	timer := time.NewTimer(AckTimeout - time.Since(pp.at))
	defer timer.Stop()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var reconnected time.Time
	for {
		select {
		case ack := <-f.Ok():
			return ack, nil
		case <-tick.C:
			if p.q.nc.Stats().Reconnects <= pp.conns || !p.q.nc.IsConnected() {
				continue
			}
			if reconnected.IsZero() {
				reconnected = time.Now()
			}
			if time.Since(reconnected) < reconnectGrace {
				continue
			}
			ack, err := p.republish(ctx, f.Msg(), nil)
			if err != nil {
				return nil, fmt.Errorf("publish batch %s after a reconnect: %w; check that the server is up and its disk has room, then run again", id, err)
			}
			return ack, nil
		case <-timer.C:
			ack, err := p.republish(ctx, f.Msg(), nil)
			if err != nil {
				return nil, fmt.Errorf("publish batch %s: the server did not store it within %v (%w); "+
					"check that the server is up and its disk has room (the server's log says why), then run again",
					id, AckTimeout, err)
			}
			return ack, nil
		case err := <-f.Err():
			// The batch's Nats-Msg-Id makes a second copy harmless.
			ack, rerr := p.republish(ctx, f.Msg(), err)
			if rerr != nil {
				return nil, fmt.Errorf("publish batch %s: %w (and again: %w)", id, err, rerr)
			}
			return ack, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (p *Publisher) acked(ack *jetstream.PubAck) {
	if ack.Sequence > p.lastSeq {
		p.lastSeq = ack.Sequence
	}
}

// stored is called once the server has stored msg at seq.
func (p *Publisher) stored(ctx context.Context, msg *nats.Msg, ack *jetstream.PubAck) {
	p.acked(ack)
	if name := msg.Header.Get(HdrObject); name != "" {
		p.q.setObjectSeq(ctx, name, ack.Sequence)
	}
	p.note(msg)
	if p.OnStored != nil {
		rows, _ := strconv.Atoi(msg.Header.Get(HdrRows))
		p.OnStored(rows)
	}
}

// RepublishFor is how long a publish that failed is tried again.
var RepublishFor = time.Minute

func (p *Publisher) republish(ctx context.Context, msg *nats.Msg, cause error) (*jetstream.PubAck, error) {
	bo := backoff.WithContext(backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(100*time.Millisecond),
		backoff.WithMaxInterval(2*time.Second),
		backoff.WithMaxElapsedTime(RepublishFor)), ctx)
	var fullSince time.Time
	var fullErr error
	if StoreFull(cause) {
		fullSince, fullErr = time.Now(), cause
	}
	return backoff.RetryWithData(func() (*jetstream.PubAck, error) {
		m := &nats.Msg{Subject: msg.Subject, Header: msg.Header, Data: msg.Data}
		actx, cancel := apiCtx(ctx)
		defer cancel()
		ack, err := p.q.js.PublishMsg(actx, m)
		switch {
		case err == nil:
			return ack, nil
		case StoreFull(err) && fullSince.IsZero():
			fullSince, fullErr = time.Now(), err // destinations taking batches may make room
		case !fullSince.IsZero() && time.Since(fullSince) > StoreFullFor:
			// Still full, or too busy to answer since it was.
			return nil, backoff.Permanent(fmt.Errorf("%w (for %v): %w", ErrStoreFull, StoreFullFor, fullErr))
		}
		return nil, err
	}, bo)
}

// ErrStoreFull is wrapped by a publish error when the NATS server had no
// room to store the batch for StoreFullFor: its disk, or its JetStream
// storage limit, is full.
var ErrStoreFull = errors.New("queue: the NATS server has no room to store batches (its disk or its JetStream storage limit is full)")

// StoreFullFor is how long a publish the server refuses for want of room is
// tried again (destinations taking batches may free some) before it fails.
var StoreFullFor = 15 * time.Second

// StoreFull reports whether err is the server refusing to store for want of
// room ("insufficient resources").
func StoreFull(err error) bool {
	var ae *jetstream.APIError
	return errors.As(err, &ae) && ae.ErrorCode == 10023
}

// Flush waits until every batch published so far is stored, and returns the
// highest stream sequence acknowledged by this publisher (0 if none).
func (p *Publisher) Flush(ctx context.Context) (uint64, error) {
	for len(p.pending) > 0 {
		if err := p.waitOldest(ctx); err != nil {
			return p.lastSeq, err
		}
	}
	return p.lastSeq, nil
}
