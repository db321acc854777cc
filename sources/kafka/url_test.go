package kafka_test

import (
	"bytes"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/fanoutbridge/bridge/cli"
	"github.com/fanoutbridge/bridge/producer"
	"github.com/fanoutbridge/bridge/sources/kafka"
)

func TestParseURL(t *testing.T) {
	u, _ := url.Parse("kafka://alice:s3cret@b1:9092,b2:9093/t1,t2?group=g&table_field=type&start=last&sasl=scram-sha-512&tls=true&session_timeout=3s&max_records=50&linger=5ms")
	cfg, err := kafka.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cfg.Brokers, " ") != "b1:9092 b2:9093" || strings.Join(cfg.Topics, " ") != "t1 t2" || cfg.Group != "g" ||
		cfg.TableField != "type" || cfg.Start != kafka.StartLast || cfg.SASL != (kafka.SASL{Mechanism: "scram-sha-512", Username: "alice", Password: "s3cret"}) ||
		cfg.TLS == nil || cfg.SessionTimeout != 3*time.Second || cfg.MaxRecords != 50 || cfg.Linger != 5*time.Millisecond {
		t.Fatalf("parsed %+v", cfg)
	}
	if s := fmt.Sprintf("%v %+v %#v", cfg, cfg, cfg); strings.Contains(s, "s3cret") {
		t.Fatalf("a printed config shows the password: %s", s)
	}
	t.Setenv(kafka.PasswordEnv, "fromenv")
	u, _ = url.Parse("kafka://bob@b1/t?group=g")
	if cfg, err = kafka.ParseURL(u); err != nil || cfg.SASL.Password != "fromenv" || cfg.SASL.Mechanism != "plain" {
		t.Fatalf("password from %s: %+v %v", kafka.PasswordEnv, cfg.SASL, err)
	}
	for in, want := range map[string]string{
		"kafka://b1/t":                                  "no consumer group",
		"kafka://b1/?group=g":                           "no topic",
		"kafka:///t?group=g":                            "no broker",
		"kafka://b1/t?group=g&start=middle":             "start",
		"kafka://u:s3cret@b1/t?group=g&sasl=gssapi":     "SASL mechanism",
		"kafka://b1/t?group=g&session_timeout=soon":     "session_timeout",
		"kafka://b1/t?group=g&tables=x":                 `unknown option "tables"`,
		"kafka://b1/t?group=g&sasl=plain":               "put the user in the URL",
		"kafka://u:s3cret@b1/t?group=g&max_records=0":   "max_records",
		"kafka://u:s3cret@b1/t?group=g&tls_ca=/no/such": "tls_ca",
		"kafka://u:s3cret@b1/t?group=g&tls=maybe":       "tls=maybe",
	} {
		u, err := url.Parse(in)
		if err != nil {
			t.Fatal(err)
		}
		_, err = kafka.FromURL(u, nil)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: error %v, want one saying %q (and never the password)", in, err, want)
		}
	}
}

// Open fails at once, saying what to do, for a topic the brokers do not
// have and for brokers that do not answer.
func TestOpenErrors(t *testing.T) {
	c := newCluster(t, 1, "present")
	for _, tc := range []struct {
		brokers []string
		want    string
	}{
		{c.ListenAddrs(), `topic "absent": not found`},
		{[]string{fmt.Sprintf("127.0.0.1:%d", freePort(t))}, "no broker of"},
	} {
		s, err := kafka.New(kafka.Config{Brokers: tc.brokers, Topics: []string{"present", "absent"}, Group: "g"})
		if err != nil {
			t.Fatal(err)
		}
		err = s.Open(ctxT(t), producer.Env{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open on %v: %v, want an error saying %q", tc.brokers, err, tc.want)
		}
	}
	// Through the command line: exit status 1 and the message.
	var out, errOut bytes.Buffer
	code := cli.Main(ctxT(t), []string{"run", "--input", "kafka://" + c.ListenAddrs()[0] + "/absent?group=g", "--destination", "null",
		"--pipeline", "kafka_absent", "--data-dir", t.TempDir()}, nil, &out, &errOut)
	if code == 0 || !strings.Contains(errOut.String(), `topic "absent": not found`) {
		t.Fatalf("bridge run on a missing topic: exit %d, stderr %q", code, errOut.String())
	}
}
