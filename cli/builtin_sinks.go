package cli

import (
	"context"
	"path/filepath"

	"go.uber.org/zap"

	"github.com/fanoutbridge/bridge"
	"github.com/fanoutbridge/bridge/sink"
	"github.com/fanoutbridge/bridge/sinks/file"
	"github.com/fanoutbridge/bridge/sinks/kafka"
	natssink "github.com/fanoutbridge/bridge/sinks/nats"
)

// fileRows is how many rows a file of the file destination holds unless
// --batch-size says otherwise.
const fileRows = 10_000

// newFileDestination runs "file:DIR[?format=..&gzip=..&name=..]": each batch
// becomes one file DIR/<table>/<batch id>.jsonl (or .parquet, as --format
// says), written atomically; settings also come from [destination.file] in
// .bridge/config.toml and DESTINATION__FILE__*. Named by its directory: two
// directories are two destinations.
func newFileDestination(arg string, opts ...bridge.Option) (*bridge.Destination, error) {
	code, err := file.ParseSpec(arg)
	if err != nil {
		return nil, err
	}
	noop := func(context.Context, []bridge.Row, bridge.Table) error { return nil }
	transit := bridge.NewDestination("file", noop, opts...).Format()
	var dir string
	d := bridge.NewConfiguredSink("file", func(cfg file.Config) (sink.Sink, error) {
		if cfg.Format == "" && transit == bridge.Parquet {
			cfg.Format = file.FormatParquet
		}
		abs, err := filepath.Abs(cfg.Dir)
		if err != nil {
			return nil, err
		}
		cfg.Dir, dir = abs, abs
		return file.New(cfg)
	}, append([]bridge.Option{bridge.BatchSize(fileRows), bridge.WithConfig(code)}, opts...)...)
	if dir == "" {
		return d, nil // the config was not resolved: d carries the error
	}
	return d.Named("file:" + dir), nil
}

// newNATSDestination runs "nats" or "nats:SUBJECT-TEMPLATE": every batch is
// published to the NATS server of nats_url in [destination.nats] of
// .bridge/config.toml (or DESTINATION__NATS__NATS_URL).
func newNATSDestination(arg string, opts ...bridge.Option) (*bridge.Destination, error) {
	name := "nats"
	if arg != "" {
		name += ":" + arg
	}
	d := natssink.DestinationWithLogger("nats", logger().With(zap.String("destination", name)),
		append([]bridge.Option{bridge.WithConfig(natssink.Config{Subject: arg})}, opts...)...)
	return d.Named(name), nil
}

// newKafkaDestination runs "kafka" or "kafka:TOPIC-TEMPLATE": every row is a
// JSON message to the brokers of [destination.kafka] in .bridge/config.toml
// (or DESTINATION__KAFKA__BROKERS); the argument, if any, is the topic
// template ("t.{table}").
func newKafkaDestination(arg string, opts ...bridge.Option) (*bridge.Destination, error) {
	name := "kafka"
	if arg != "" {
		name += ":" + arg
		opts = append([]bridge.Option{bridge.WithConfig(kafka.Config{Topic: arg})}, opts...)
	}
	d := kafka.DestinationWithLogger("kafka", logger().With(zap.String("destination", name)), opts...)
	return d.Named(name), nil
}
