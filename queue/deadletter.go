package queue

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Headers a dead letter adds to the batch's own.
const (
	HdrDLQReason      = "Bridge-Dlq-Reason"
	HdrDLQError       = "Bridge-Dlq-Error"
	HdrDLQAttempts    = "Bridge-Dlq-Attempts"
	HdrDLQTime        = "Bridge-Dlq-Time"
	HdrDLQSubject     = "Bridge-Dlq-Subject"
	HdrDLQSequence    = "Bridge-Dlq-Sequence"
	HdrDLQDestination = "Bridge-Dlq-Destination"
)

// DeadInfo says why a batch is dead-lettered.
type DeadInfo struct {
	Destination string
	Reason      string // "terminal", "unreadable", ...
	Err         error
	Attempts    int
	// Part, when set, dead-letters only some rows of the batch (the rest
	// were delivered): the dead letter holds just them.
	Part *DeadPart
}

// DeadPart is the rows of a batch that alone go to the dead-letter stream.
type DeadPart struct {
	BatchID string // the id the destination saw for these rows
	Rows    int
	Format  string
	Payload []byte // the rows, encoded in Format
}

// HdrDLQBatch is the id of the dead-lettered batch (or part of a batch).
const HdrDLQBatch = "Bridge-Dlq-Batch"

// DeadLetter copies the batch (or the part of it in info.Part) with its
// headers and the reason to the dead-letter stream, waits for the server to
// store it, then acknowledges the original. A dead letter of a batch held in
// the Object Store gets its own copy of the object, so it outlives the batch.
func (d *Delivery) DeadLetter(ctx context.Context, info DeadInfo) error {
	q := d.q
	msg := &nats.Msg{Subject: q.DLQSubject(d.Table), Header: nats.Header{}}
	for k, v := range d.header {
		msg.Header[k] = v
	}
	batchID, payload := d.MsgID, []byte(nil)
	if p := info.Part; p != nil {
		batchID, payload = p.BatchID, p.Payload
		msg.Header.Set(HdrRows, strconv.Itoa(p.Rows))
		msg.Header.Set(HdrFormat, p.Format)
		msg.Header.Set(HdrChecksum, checksum(p.Payload))
		msg.Header.Set(HdrSize, strconv.Itoa(len(p.Payload)))
		msg.Header.Del(HdrObject)
	} else if b, err := d.Payload(ctx); err == nil {
		payload = b
	} else {
		payload = d.data // unreadable: keep what there is, and the reference
	}
	id := batchID + ".dlq." + Token(info.Destination) + "." + strconv.FormatUint(d.StreamSeq, 10)
	if len(payload) > q.maxInline {
		h := nats.Header{}
		h.Set(objHdrDead, "1")
		if err := q.putObject(ctx, id, payload, h); err != nil {
			return fmt.Errorf("dead-letter batch %s: %w", batchID, err)
		}
		msg.Header.Set(HdrObject, id)
	} else {
		msg.Data = payload
		if info.Part == nil && d.object != "" && payload != nil {
			msg.Header.Del(HdrObject)
		}
	}
	errText := ""
	if info.Err != nil {
		errText = info.Err.Error()
	}
	msg.Header.Set(jetstream.MsgIDHeader, id)
	msg.Header.Set(HdrDLQBatch, batchID)
	msg.Header.Set(HdrDLQReason, info.Reason)
	msg.Header.Set(HdrDLQError, headerSafe(errText))
	msg.Header.Set(HdrDLQAttempts, strconv.Itoa(info.Attempts))
	msg.Header.Set(HdrDLQTime, time.Now().UTC().Format(time.RFC3339Nano))
	msg.Header.Set(HdrDLQSubject, d.subject)
	msg.Header.Set(HdrDLQSequence, strconv.FormatUint(d.StreamSeq, 10))
	msg.Header.Set(HdrDLQDestination, info.Destination)
	msg.Header.Del(HdrTarget)
	actx, cancel := apiCtx(ctx)
	defer cancel()
	if _, err := q.js.PublishMsg(actx, msg); err != nil {
		return fmt.Errorf("dead-letter batch %s: %w", batchID, err)
	}
	return nil
}

// DeadLetter is one dead-lettered batch as stored.
type DeadLetter struct {
	Seq         uint64 // sequence in the dead-letter stream
	MsgID       string // the batch id
	Table       string
	LoadID      string
	Rows        int
	Format      string
	Reason      string
	Error       string
	Attempts    int
	Time        time.Time
	Subject     string // original subject
	OrigSeq     uint64 // original stream sequence
	Destination string
	Header      nats.Header
	Data        []byte // the payload, or empty when it is in the Object Store
}

// DeadFilter selects dead letters; zero fields match everything.
type DeadFilter struct {
	Destination string
	Table       string
	MsgID       string
}

func (f DeadFilter) match(d *DeadLetter) bool {
	return (f.Destination == "" || f.Destination == d.Destination) &&
		(f.Table == "" || f.Table == d.Table) && (f.MsgID == "" || f.MsgID == d.MsgID)
}

// DeadLetters lists the dead letters that match f, oldest first.
func (q *Queue) DeadLetters(ctx context.Context, f DeadFilter) ([]DeadLetter, error) {
	s, err := q.js.Stream(ctx, q.DLQStreamName())
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", q.DLQStreamName(), err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", q.DLQStreamName(), err)
	}
	var out []DeadLetter
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return out, fmt.Errorf("dead letter %d: %w", seq, err)
		}
		d := parseDead(m)
		if f.match(&d) {
			out = append(out, d)
		}
	}
	return out, nil
}

func parseDead(m *jetstream.RawStreamMsg) DeadLetter {
	h := m.Header
	b := batchHeaderOf(h)
	d := DeadLetter{
		Seq:         m.Sequence,
		MsgID:       h.Get(jetstream.MsgIDHeader),
		LoadID:      b.LoadID,
		Table:       b.Table,
		Rows:        b.Rows,
		Format:      b.Format,
		Reason:      h.Get(HdrDLQReason),
		Error:       h.Get(HdrDLQError),
		Subject:     h.Get(HdrDLQSubject),
		Destination: h.Get(HdrDLQDestination),
		Header:      h,
		Data:        m.Data,
	}
	if id := h.Get(HdrDLQBatch); id != "" {
		d.MsgID = id
	} else if i := len(d.MsgID) - len(".dlq.") - len(h.Get(HdrDLQSequence)); i > 0 {
		d.MsgID = d.MsgID[:i] // written by an older bridge
	}
	d.Attempts, _ = strconv.Atoi(h.Get(HdrDLQAttempts))
	d.OrigSeq, _ = strconv.ParseUint(h.Get(HdrDLQSequence), 10, 64)
	d.Time, _ = time.Parse(time.RFC3339Nano, h.Get(HdrDLQTime))
	return d
}

// Replay republishes the dead letters that match f to their table subjects,
// as new batches (a fresh message id) meant for the destination that
// dead-lettered them alone, and removes them from the dead-letter stream once
// stored. The destination sees the batch id it saw before. It returns how many
// it replayed.
func (q *Queue) Replay(ctx context.Context, f DeadFilter) (int, error) {
	s, dead, err := q.deadMatching(ctx, f)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, d := range dead {
		msg := &nats.Msg{Subject: d.Subject, Header: nats.Header{}, Data: d.Data}
		for k, v := range d.Header {
			msg.Header[k] = v
		}
		for _, k := range []string{HdrDLQReason, HdrDLQError, HdrDLQAttempts, HdrDLQTime, HdrDLQSubject, HdrDLQSequence, HdrDLQDestination, HdrDLQBatch} {
			msg.Header.Del(k)
		}
		msg.Header.Set(jetstream.MsgIDHeader, d.MsgID+".replay."+strconv.FormatUint(d.Seq, 10))
		msg.Header.Set(HdrBatchID, d.MsgID)
		if d.Destination != "" {
			msg.Header.Set(HdrTarget, d.Destination)
		}
		ack, err := q.js.PublishMsg(ctx, msg)
		if err != nil {
			return n, fmt.Errorf("replay %s: %w", d.MsgID, err)
		}
		if o := msg.Header.Get(HdrObject); o != "" {
			q.setObjectSeq(ctx, o, ack.Sequence) // the batch's now, no longer the dead letter's
		}
		if err := s.DeleteMsg(ctx, d.Seq); err != nil {
			return n, fmt.Errorf("replay %s: remove dead letter %d: %w", d.MsgID, d.Seq, err)
		}
		n++
	}
	return n, nil
}

// Purge deletes the dead letters that match f (and their Object Store
// copies) and returns how many it deleted.
func (q *Queue) Purge(ctx context.Context, f DeadFilter) (int, error) {
	s, dead, err := q.deadMatching(ctx, f)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, d := range dead {
		if err := s.DeleteMsg(ctx, d.Seq); err != nil {
			return n, fmt.Errorf("purge dead letter %d: %w", d.Seq, err)
		}
		if o := d.Header.Get(HdrObject); o != "" {
			if obj, err := q.objects(ctx); err == nil {
				_ = obj.Delete(ctx, o)
			}
		}
		n++
	}
	return n, nil
}

// deadMatching returns the dead-letter stream and the dead letters that match f.
func (q *Queue) deadMatching(ctx context.Context, f DeadFilter) (jetstream.Stream, []DeadLetter, error) {
	dead, err := q.DeadLetters(ctx, f)
	if err != nil {
		return nil, nil, err
	}
	s, err := q.js.Stream(ctx, q.DLQStreamName())
	if err != nil {
		return nil, nil, fmt.Errorf("stream %s: %w", q.DLQStreamName(), err)
	}
	return s, dead, nil
}

// DeadLetterPayload returns a dead letter's payload: its data, or its copy
// in the Object Store when the batch was too large for a message, checked
// against its checksum.
func (q *Queue) DeadLetterPayload(ctx context.Context, d DeadLetter) ([]byte, error) {
	data := d.Data
	if o := d.Header.Get(HdrObject); o != "" && len(data) == 0 {
		obj, err := q.objects(ctx)
		if err != nil {
			return nil, err
		}
		if data, err = obj.GetBytes(ctx, o); err != nil {
			return nil, fmt.Errorf("dead letter %s from object store: %w", d.MsgID, err)
		}
	}
	if want := d.Header.Get(HdrChecksum); want != "" && checksum(data) != want {
		return nil, fmt.Errorf("%w: dead letter %s", ErrChecksum, d.MsgID)
	}
	return data, nil
}
