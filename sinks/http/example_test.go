package httpsink_test

import (
	"fmt"

	"github.com/fanoutbridge/bridge"
	httpsink "github.com/fanoutbridge/bridge/sinks/http"
)

func ExampleDestination() {
	dest := httpsink.Destination("crm",
		// Values in code win; the rest come from DESTINATION__CRM__<KEY>,
		// [destination.crm] in .bridge/secrets.toml and config.toml, or
		// the defaults.
		bridge.WithConfig(httpsink.Config{
			URL:         "https://api.example.com/ingest/{table}",
			BearerToken: "t0ps3cret",
			Rate:        20, // requests/s, shared by every worker; halved on a 429
			MaxRate:     50,
		}),
		bridge.ConfigDir("testdata/none"),
		bridge.BatchSize(500))
	for _, v := range dest.ConfigSummary() {
		fmt.Println(v)
	}
	// Output:
	// http_url=https://api.example.com/ingest/{table} (code)
	// http_method=POST (default)
	// http_body=json (default)
	// http_headers= (unset)
	// http_bearer_token=*** (code)
	// http_basic_user= (unset)
	// http_basic_password= (unset)
	// http_timeout=30s (default)
	// http_terminal_codes= (unset)
	// http_rate=20 (code)
	// http_max_rate=50 (code)
	// http_min_rate=1 (default)
	// http_rate_increase=1 (default)
}
