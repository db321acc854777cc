package cli

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// `bridge run --destination http` sends the rows to the webhook set in
// .bridge/config.toml, with the token from .bridge/secrets.toml, which no
// output shows; "http:URL" names the URL on the command line.
func TestHTTPDestination(t *testing.T) {
	const token = "cli-secret-token-42"
	var mu sync.Mutex
	got := map[string][]map[string]any{} // by path
	auth := map[string]string{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var rows []map[string]any
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &rows); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		got[r.URL.Path] = append(got[r.URL.Path], rows...)
		auth[r.URL.Path] = r.Header.Get("Authorization")
		mu.Unlock()
	}))
	defer srv.Close()
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.Mkdir(".bridge", 0o755); err != nil {
		t.Fatal(err)
	}
	config := "[destination.http]\nhttp_url = \"" + srv.URL + "/from-config/{table}\"\nhttp_rate = 50\n"
	secrets := "[destination.http]\nhttp_bearer_token = \"" + token + "\"\n"
	for name, text := range map[string]string{"config.toml": config, "secrets.toml": secrets} {
		if err := os.WriteFile(filepath.Join(".bridge", name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	in := "{\"id\":1,\"name\":\"a\"}\n{\"id\":2,\"name\":\"b\"}\n"
	for _, tc := range []struct{ spec, path string }{
		{"http", "/from-config/people"},
		{"http:" + srv.URL + "/from-flag", "/from-flag"},
	} {
		code, out, errOut := runCLI(t, in, "run", "--input", "-", "--table", "people", "--destination", tc.spec,
			"--data-dir", filepath.Join(dir, "data", strings.ReplaceAll(tc.path, "/", "_")), "--pipeline", "clihttp")
		if code != 0 {
			t.Fatalf("%s: code %d, stderr %q", tc.spec, code, errOut)
		}
		if strings.Contains(out+errOut, token) {
			t.Errorf("%s: the token shows in the output", tc.spec)
		}
		mu.Lock()
		rows, a := got[tc.path], auth[tc.path]
		mu.Unlock()
		if len(rows) != 2 || rows[1]["name"] != "b" || a != "Bearer "+token {
			t.Errorf("%s: %s got %v with Authorization %q, want the 2 rows with the token", tc.spec, tc.path, rows, a)
		}
	}
}
