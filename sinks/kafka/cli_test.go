package kafka_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fanoutbridge/bridge"
	"github.com/fanoutbridge/bridge/cli"
	"github.com/fanoutbridge/bridge/sinks/kafka"
)

// `bridge run --destination kafka` reads its settings from
// .bridge/config.toml [destination.kafka] and delivers the input.
func TestCLIRunDestinationKafka(t *testing.T) {
	c := newCluster(t)
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, ".bridge"), 0o755); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf("[destination.kafka]\nbrokers = [%q]\ntopic = \"cli.{table}\"\nkey = \"user\"\n", c.ListenAddrs()[0])
	if err := os.WriteFile(filepath.Join(dir, ".bridge", "config.toml"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	var in strings.Builder
	for i := range 100 {
		fmt.Fprintf(&in, `{"id":%d,"user":"u%d","at":"2026-01-02T03:04:05Z"}`+"\n", i, i%5)
	}
	input := filepath.Join(dir, "in.jsonl")
	if err := os.WriteFile(input, []byte(in.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	var stdout, stderr bytes.Buffer
	code := cli.Main(ctxT(t), []string{"run", "--input", input, "--table", "orders", "--destination", "kafka",
		"--pipeline", "kafka_cli", "--data-dir", filepath.Join(dir, "data")}, nil, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("bridge run exited %d\nstdout: %s\nstderr: %s", code, stdout.String(), stderr.String())
	}
	// kafka:TOPIC wins over the file's topic.
	stdout.Reset()
	code = cli.Main(ctxT(t), []string{"run", "--input", input, "--table", "orders", "--destination", "kafka:arg.{table}",
		"--pipeline", "kafka_cli", "--data-dir", filepath.Join(dir, "data")}, nil, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("bridge run --destination kafka:arg.{table} exited %d\nstdout: %s\nstderr: %s", code, stdout.String(), stderr.String())
	}
	if n := len(readTopic(t, c, "arg.orders")); n != 100 {
		t.Fatalf("arg.orders holds %d messages, want 100\nstdout: %s", n, stdout.String())
	}
	recs := readTopic(t, c, "cli.orders")
	if len(recs) != 100 {
		t.Fatalf("cli.orders holds %d messages, want 100\nstdout: %s", len(recs), stdout.String())
	}
	for _, r := range recs {
		if r.Key != r.Value["user"] || r.Value["at"] != "2026-01-02T03:04:05Z" {
			t.Fatalf("message key %q value %v: want the user column as key and the timestamp as RFC 3339", r.Key, r.Value)
		}
	}
}

// configs/kafka.toml is a valid [destination.kafka] section.
func TestExampleConfig(t *testing.T) {
	c := newCluster(t)
	example, err := os.ReadFile("../../configs/kafka.toml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), example, 0o644); err != nil {
		t.Fatal(err)
	}
	d := kafka.Destination("kafka", bridge.ConfigDir(dir), bridge.WithConfig(kafka.Config{Brokers: c.ListenAddrs()}))
	p, err := bridge.NewPipeline("kafka_example", d, bridge.WithDataDir(t.TempDir()))
	if err != nil {
		t.Fatalf("configs/kafka.toml: %v", err)
	}
	defer p.Close()
	got := map[string]string{}
	for _, v := range d.ConfigSummary() {
		got[v.Key] = v.Value
	}
	if got["topic"] != "bridge.{table}" || got["topic_partitions"] != "6" || got["acks"] != "all" {
		t.Fatalf("resolved %v", got)
	}
}
