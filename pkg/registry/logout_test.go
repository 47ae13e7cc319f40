package registry

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLogout removes what Login stored and keeps the rest of the config;
// a second Logout finds nothing.
func TestLogout(t *testing.T) {
	host, _ := authServer(t, "u", "pw")
	dir := t.TempDir()
	t.Setenv("DOCKER_CONFIG", dir)
	cfg := filepath.Join(dir, "config.json")
	if err := os.WriteFile(cfg, []byte(`{"auths":{"other.example.com":{"auth":"b3RoZXI6c2VjcmV0"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Login(context.Background(), host, "u", "pw", Options{}); err != nil {
		t.Fatal(err)
	}
	file, removed, err := Logout(host, Options{})
	if err != nil || !removed || file != cfg {
		t.Fatalf("Logout = %s, %v, %v", file, removed, err)
	}
	data, _ := os.ReadFile(cfg)
	if strings.Contains(string(data), host) || !strings.Contains(string(data), "other.example.com") {
		t.Errorf("config after logout: %s", data)
	}
	if _, removed, err := Logout(host, Options{}); err != nil || removed {
		t.Errorf("a second logout: removed %v, %v", removed, err)
	}
}
