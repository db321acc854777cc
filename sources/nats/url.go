package natssource

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
)

// ParseURL reads a source URL:
//
//	nats://host:4222/SUBJECT[?queue=GROUP][&table=NAME]
//	nats://host:4222/SUBJECT?stream=S&consumer=C[&table=NAME][&ack_wait=30s][&max_ack_pending=10000]
//
// SUBJECT may hold wildcards (orders.*, orders.>); with a stream it filters
// the stream's messages and may be left out (nats://host:4222/?stream=S&consumer=C).
// User and password in the URL are used to connect.
func ParseURL(u *url.URL) (Config, error) {
	var c Config
	if u.Scheme != "nats" {
		return c, fmt.Errorf("scheme %q: want nats://", u.Scheme)
	}
	host := u.Host
	if host == "" {
		host = "127.0.0.1:4222"
	}
	server := url.URL{Scheme: "nats", User: u.User, Host: host}
	c.URL = server.String()
	c.Subject = strings.Trim(u.Path, "/")
	if strings.Contains(c.Subject, "/") {
		return c, fmt.Errorf("subject %q: a subject has no '/': use dots (orders.created)", c.Subject)
	}
	q := u.Query()
	for k := range q {
		switch k {
		case "queue", "stream", "consumer", "table", "ack_wait", "max_ack_pending", "max_read":
		default:
			return c, fmt.Errorf("unknown option %q: want queue, stream, consumer, table, ack_wait, max_ack_pending or max_read", k)
		}
	}
	c.Queue, c.Stream, c.Consumer, c.Table = q.Get("queue"), q.Get("stream"), q.Get("consumer"), q.Get("table")
	if v := q.Get("ack_wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return c, fmt.Errorf("ack_wait %q: %w", v, err)
		}
		c.AckWait = d
	}
	for _, o := range []struct {
		key string
		to  *int
	}{{"max_ack_pending", &c.MaxAckPending}, {"max_read", &c.MaxRead}} {
		if v := q.Get(o.key); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return c, fmt.Errorf("%s %q: want a positive number", o.key, v)
			}
			*o.to = n
		}
	}
	return c, nil
}

// FromURL makes a source from its URL (see ParseURL), logging to l (nil: no
// logs).
func FromURL(u *url.URL, l *zap.Logger) (*Source, error) {
	c, err := ParseURL(u)
	if err != nil {
		return nil, err
	}
	c.Logger = l
	return New(c)
}
