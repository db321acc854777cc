package bridge_test

import (
	"context"
	"fmt"
	"time"

	"github.com/fanoutbridge/bridge"
)

// WebhookConfig is a destination's config: each field says its key, and
// whether it is a secret, optional, or has a default.
type WebhookConfig struct {
	URL     string        `bridge:"webhook_url"`
	Token   string        `bridge:"webhook_token,secret"`
	Timeout time.Duration `bridge:"webhook_timeout" default:"10s"`
	Tags    []string      `bridge:"webhook_tags,optional"`
}

func ExampleNewConfiguredDestination() {
	dest := bridge.NewConfiguredDestination("webhook",
		func(ctx context.Context, items []bridge.Row, table bridge.Table, cfg WebhookConfig) error {
			// POST the items to cfg.URL with cfg.Token, within cfg.Timeout.
			return nil
		},
		// Values in code win; the rest come from DESTINATION__WEBHOOK__<KEY>
		// variables, .bridge/secrets.toml and .bridge/config.toml, or defaults.
		bridge.WithConfig(WebhookConfig{URL: "https://example.com/hook", Token: "t0ps3cret"}),
		bridge.BatchSize(100))

	for _, v := range dest.ConfigSummary() {
		fmt.Println(v)
	}
	// Output:
	// webhook_url=https://example.com/hook (code)
	// webhook_token=*** (code)
	// webhook_timeout=10s (default)
	// webhook_tags= (unset)
}
