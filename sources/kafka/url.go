package kafka

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
)

// PasswordEnv is the variable the SASL password is read from when the URL
// names a user but no password.
const PasswordEnv = "SOURCE__KAFKA__SASL_PASSWORD"

var urlOptions = []string{"group", "table", "table_field", "start", "sasl", "tls", "tls_ca", "tls_skip_verify",
	"session_timeout", "max_records", "linger"}

// ParseURL reads a Config from a source URL:
//
//	kafka://[user[:password]@]broker1:9092,broker2:9092/topic[,topic2]?group=g[&table=t|&table_field=type]
//	    [&start=first|last][&sasl=plain|scram-sha-256|scram-sha-512][&tls=true][&tls_ca=ca.pem]
//	    [&session_timeout=10s][&max_records=500][&linger=0s]
//
// Errors never carry the password.
func ParseURL(u *url.URL) (Config, error) {
	var cfg Config
	if u.Scheme != "kafka" {
		return cfg, fmt.Errorf("scheme %q: want kafka://", u.Scheme)
	}
	for b := range strings.SplitSeq(u.Host, ",") {
		if b = strings.TrimSpace(b); b != "" {
			if !strings.Contains(b, ":") {
				b += ":9092"
			}
			cfg.Brokers = append(cfg.Brokers, b)
		}
	}
	if len(cfg.Brokers) == 0 {
		return cfg, errors.New("no broker: kafka://HOST:PORT/TOPIC?group=NAME")
	}
	for t := range strings.SplitSeq(strings.Trim(u.Path, "/"), ",") {
		if t = strings.TrimSpace(t); t != "" {
			cfg.Topics = append(cfg.Topics, t)
		}
	}
	if len(cfg.Topics) == 0 {
		return cfg, errors.New("no topic: kafka://HOST:PORT/TOPIC?group=NAME")
	}
	q := u.Query()
	for k := range q {
		if !slices.Contains(urlOptions, k) {
			return cfg, fmt.Errorf("unknown option %q: known are %s", k, strings.Join(urlOptions, ", "))
		}
	}
	cfg.Group = q.Get("group")
	if cfg.Group == "" {
		return cfg, errors.New("no consumer group: add ?group=NAME (offsets are committed to it)")
	}
	cfg.Table, cfg.TableField = q.Get("table"), q.Get("table_field")
	cfg.Start = Start(q.Get("start"))
	if u.User != nil {
		cfg.SASL.Username = u.User.Username()
		cfg.SASL.Password, _ = u.User.Password()
		if cfg.SASL.Password == "" {
			cfg.SASL.Password = os.Getenv(PasswordEnv)
		}
		cfg.SASL.Mechanism = "plain"
	}
	if m := q.Get("sasl"); m != "" {
		if u.User == nil {
			return cfg, fmt.Errorf("sasl=%s: put the user in the URL (kafka://USER@HOST/...) and the password in %s", m, PasswordEnv)
		}
		cfg.SASL.Mechanism = m
	}
	var err error
	useTLS := false
	if v := q.Get("tls"); v != "" {
		if useTLS, err = strconv.ParseBool(v); err != nil {
			return cfg, fmt.Errorf("tls=%s: want true or false", v)
		}
	}
	skip := false
	if v := q.Get("tls_skip_verify"); v != "" {
		if skip, err = strconv.ParseBool(v); err != nil {
			return cfg, fmt.Errorf("tls_skip_verify=%s: want true or false", v)
		}
	}
	if ca := q.Get("tls_ca"); ca != "" || skip {
		useTLS = true
	}
	if useTLS {
		cfg.TLS = &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: skip}
		if ca := q.Get("tls_ca"); ca != "" {
			pem, err := os.ReadFile(ca)
			if err != nil {
				return cfg, fmt.Errorf("tls_ca: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return cfg, fmt.Errorf("tls_ca %s: no PEM certificate in it", ca)
			}
			cfg.TLS.RootCAs = pool
		}
	}
	for _, d := range []struct {
		key string
		to  *time.Duration
	}{{"session_timeout", &cfg.SessionTimeout}, {"linger", &cfg.Linger}} {
		if v := q.Get(d.key); v != "" {
			if *d.to, err = time.ParseDuration(v); err != nil || *d.to < 0 {
				return cfg, fmt.Errorf("%s=%s: want a duration like 10s", d.key, v)
			}
		}
	}
	if v := q.Get("max_records"); v != "" {
		if cfg.MaxRecords, err = strconv.Atoi(v); err != nil || cfg.MaxRecords < 1 {
			return cfg, fmt.Errorf("max_records=%s: want 1 or more", v)
		}
	}
	return cfg, nil
}

// FromURL makes a source from its URL (see ParseURL), logging to log.
func FromURL(u *url.URL, log *zap.Logger) (*Source, error) {
	cfg, err := ParseURL(u)
	if err != nil {
		return nil, err
	}
	cfg.Logger = log
	return New(cfg)
}
