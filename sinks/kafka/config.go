package kafka

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// Config is the kafka sink's configuration. Through bridge's config
// resolution (Destination, `bridge run --destination kafka`) each field is
// read from code, DESTINATION__<NAME>__<KEY>, or .bridge/secrets.toml and
// .bridge/config.toml [destination.<name>], else its default.
type Config struct {
	// Brokers are the bootstrap brokers, host:port (required).
	Brokers []string `bridge:"brokers"`
	// Topic is the topic template: "{table}" is replaced by the table name
	// ("t.{table}" writes table orders to t.orders); a template without
	// "{table}" sends every table to that one topic.
	Topic string `bridge:"topic" default:"{table}"`
	// Key lists the columns whose values make the message key. Default: the
	// table's primary-key columns if its schema marks any, else no key
	// (messages spread round-robin over the partitions). Rows with equal
	// keys go to the same partition, in order.
	Key []string `bridge:"key,optional"`
	// Acks is how many replicas acknowledge a write: all (default), one or
	// none. With none a write is acknowledged once sent.
	Acks string `bridge:"acks" default:"all"`
	// BatchTimeout is how long the writer waits to fill a produce request
	// for a partition before sending it.
	BatchTimeout time.Duration `bridge:"batch_timeout" default:"5ms"`
	// BatchSize is the most messages in one produce request per partition.
	BatchSize int `bridge:"batch_size" default:"1000"`
	// BatchBytes is the most bytes in one produce request per partition,
	// and so the largest message (the broker's message.max.bytes should be
	// at least this). A row larger than this is dead-lettered.
	BatchBytes int64 `bridge:"batch_bytes" default:"1048576"`
	// WriteTimeout bounds one produce request.
	WriteTimeout time.Duration `bridge:"write_timeout" default:"10s"`
	// MaxAttempts is how often the writer tries a produce request that fails
	// with a retriable error before it hands the rows back to bridge, which
	// retries them with its own backoff.
	MaxAttempts int `bridge:"max_attempts" default:"3"`
	// ConnectTimeout bounds the check that the brokers are reachable when
	// the pipeline opens.
	ConnectTimeout time.Duration `bridge:"connect_timeout" default:"10s"`
	// CreateTopics creates a missing topic (with TopicPartitions and
	// TopicReplication) before the first write to it.
	CreateTopics bool `bridge:"create_topics" default:"true"`
	// TopicPartitions and TopicReplication are the partitions and
	// replication factor of created topics; -1 takes the broker's default.
	TopicPartitions  int `bridge:"topic_partitions" default:"-1"`
	TopicReplication int `bridge:"topic_replication" default:"-1"`
	// Compression of produce requests: none (default), gzip, snappy, lz4
	// or zstd.
	Compression string `bridge:"compression" default:"none"`
	// SASLMechanism is plain, scram-sha-256 or scram-sha-512; it defaults
	// to plain when SASLUsername is set.
	SASLMechanism string `bridge:"sasl_mechanism,optional"`
	SASLUsername  string `bridge:"sasl_username,optional"`
	SASLPassword  string `bridge:"sasl_password,secret,optional"`
	// TLS connects to the brokers over TLS, checking their certificates
	// against the system roots or TLSCAFile.
	TLS       bool   `bridge:"tls,optional"`
	TLSCAFile string `bridge:"tls_ca_file,optional"`
	// ClientID names this client to the brokers.
	ClientID string `bridge:"client_id" default:"bridge"`
}

// ErrConfig is wrapped by every error New returns for a bad setting.
var ErrConfig = errors.New("kafka: invalid config")

// settings is a validated Config in kafka-go's terms.
type settings struct {
	topic       topicTemplate
	acks        kafkago.RequiredAcks
	compression kafkago.Compression
	mechanism   sasl.Mechanism
	tls         *tls.Config
}

// defaults fills the zero fields of a Config made in code (kafka.New
// without bridge's resolution) with the documented defaults.
func (c *Config) defaults() {
	if c.Topic == "" {
		c.Topic = "{table}"
	}
	if c.Acks == "" {
		c.Acks = "all"
	}
	if c.BatchTimeout == 0 {
		c.BatchTimeout = 5 * time.Millisecond
	}
	if c.BatchSize == 0 {
		c.BatchSize = 1000
	}
	if c.BatchBytes == 0 {
		c.BatchBytes = 1 << 20
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 3
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = 10 * time.Second
	}
	if c.TopicPartitions == 0 {
		c.TopicPartitions = -1
	}
	if c.TopicReplication == 0 {
		c.TopicReplication = -1
	}
	if c.ClientID == "" {
		c.ClientID = "bridge"
	}
}

// validate checks c and turns it into settings.
func (c *Config) validate() (*settings, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
	}
	var s settings
	brokers := c.Brokers[:0:0]
	for _, b := range c.Brokers {
		if b = strings.TrimSpace(b); b != "" {
			brokers = append(brokers, b)
		}
	}
	if len(brokers) == 0 {
		return nil, bad("brokers: none given (a list of host:port)")
	}
	c.Brokers = brokers
	var err error
	if s.topic, err = parseTopic(c.Topic); err != nil {
		return nil, bad("topic: %v", err)
	}
	switch strings.ToLower(c.Acks) {
	case "all", "-1":
		s.acks = kafkago.RequireAll
	case "one", "1":
		s.acks = kafkago.RequireOne
	case "none", "0":
		s.acks = kafkago.RequireNone
	default:
		return nil, bad("acks %q: want all, one or none", c.Acks)
	}
	switch {
	case c.BatchTimeout <= 0:
		return nil, bad("batch_timeout %v: must be positive", c.BatchTimeout)
	case c.BatchSize < 1:
		return nil, bad("batch_size %d: must be at least 1", c.BatchSize)
	case c.BatchBytes < 1024:
		return nil, bad("batch_bytes %d: must be at least 1024", c.BatchBytes)
	case c.WriteTimeout <= 0:
		return nil, bad("write_timeout %v: must be positive", c.WriteTimeout)
	case c.MaxAttempts < 1:
		return nil, bad("max_attempts %d: must be at least 1", c.MaxAttempts)
	case c.ConnectTimeout <= 0:
		return nil, bad("connect_timeout %v: must be positive", c.ConnectTimeout)
	case c.TopicPartitions == 0 || c.TopicPartitions < -1:
		return nil, bad("topic_partitions %d: want -1 (broker default) or at least 1", c.TopicPartitions)
	case c.TopicReplication == 0 || c.TopicReplication < -1 || c.TopicReplication > 32767:
		return nil, bad("topic_replication %d: want -1 (broker default) or at least 1", c.TopicReplication)
	}
	for _, k := range c.Key {
		if strings.TrimSpace(k) == "" {
			return nil, bad("key: empty column name")
		}
	}
	switch strings.ToLower(c.Compression) {
	case "", "none":
	case "gzip":
		s.compression = compress.Gzip
	case "snappy":
		s.compression = compress.Snappy
	case "lz4":
		s.compression = compress.Lz4
	case "zstd":
		s.compression = compress.Zstd
	default:
		return nil, bad("compression %q: want none, gzip, snappy, lz4 or zstd", c.Compression)
	}
	if s.mechanism, err = c.saslMechanism(); err != nil {
		return nil, bad("%v", err)
	}
	if c.TLS || c.TLSCAFile != "" {
		s.tls = &tls.Config{MinVersion: tls.VersionTLS12}
		if c.TLSCAFile != "" {
			pem, err := os.ReadFile(c.TLSCAFile)
			if err != nil {
				return nil, bad("tls_ca_file: %v", err)
			}
			s.tls.RootCAs = x509.NewCertPool()
			if !s.tls.RootCAs.AppendCertsFromPEM(pem) {
				return nil, bad("tls_ca_file %s: no PEM certificate in it", c.TLSCAFile)
			}
		}
	}
	return &s, nil
}

// saslMechanism returns the SASL mechanism of c; nil without a user. Its
// errors never hold the password.
func (c *Config) saslMechanism() (sasl.Mechanism, error) {
	if c.SASLUsername == "" {
		if c.SASLPassword != "" || c.SASLMechanism != "" {
			return nil, errors.New("sasl_username: needed with sasl_password or sasl_mechanism")
		}
		return nil, nil
	}
	switch m := strings.ToLower(c.SASLMechanism); m {
	case "", "plain":
		return plain.Mechanism{Username: c.SASLUsername, Password: c.SASLPassword}, nil
	case "scram-sha-256", "scram-sha-512":
		algo := scram.SHA256
		if m == "scram-sha-512" {
			algo = scram.SHA512
		}
		mech, err := scram.Mechanism(algo, c.SASLUsername, c.SASLPassword)
		if err != nil {
			return nil, fmt.Errorf("sasl_mechanism %s: the username or password is not valid for SCRAM", m)
		}
		return mech, nil
	default:
		return nil, fmt.Errorf("sasl_mechanism %q: want plain, scram-sha-256 or scram-sha-512", c.SASLMechanism)
	}
}

// topicTemplate renders a topic name per table.
type topicTemplate struct {
	prefix, suffix string
	perTable       bool
}

// legalTopic is what Kafka accepts as a topic name.
var legalTopic = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)

func parseTopic(tmpl string) (topicTemplate, error) {
	before, after, found := strings.Cut(tmpl, "{table}")
	if strings.Contains(after, "{table}") {
		return topicTemplate{}, fmt.Errorf("%q: {table} appears more than once", tmpl)
	}
	if strings.ContainsAny(before+after, "{}") {
		return topicTemplate{}, fmt.Errorf("%q: the only placeholder is {table}", tmpl)
	}
	t := topicTemplate{prefix: before, suffix: after, perTable: found}
	if !found && !legalTopic.MatchString(tmpl) {
		return topicTemplate{}, fmt.Errorf("%q is not a Kafka topic name (letters, digits, '.', '_', '-'; at most 249)", tmpl)
	}
	if found && before+after != "" && !legalTopic.MatchString(before+after) {
		return topicTemplate{}, fmt.Errorf("%q: the text around {table} is not allowed in a Kafka topic name", tmpl)
	}
	return t, nil
}

// render returns the topic of table, or an error for a name Kafka would
// refuse.
func (t topicTemplate) render(table string) (string, error) {
	if !t.perTable {
		return t.prefix, nil
	}
	topic := t.prefix + table + t.suffix
	if !legalTopic.MatchString(topic) {
		return "", fmt.Errorf("topic %q for table %q is not a Kafka topic name (letters, digits, '.', '_', '-'; at most 249)", topic, table)
	}
	return topic, nil
}
