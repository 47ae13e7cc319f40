package registry

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// dirNames lists dir.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// Login replaces an existing docker config whole: other settings and its
// mode are kept, and no temporary file stays.
func TestLoginKeepsExistingConfig(t *testing.T) {
	host, _ := authServer(t, "u", "pw")
	dir := t.TempDir()
	t.Setenv("DOCKER_CONFIG", dir)
	cfg := filepath.Join(dir, "config.json")
	existing := `{"auths":{"other.example.com":{"auth":"b3RoZXI6c2VjcmV0"}},"detachKeys":"ctrl-x,x"}`
	if err := os.WriteFile(cfg, []byte(existing), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(cfg, 0o640); err != nil { // whatever the umask
		t.Fatal(err)
	}
	if _, err := Login(context.Background(), host, "u", "pw", Options{}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Auths      map[string]struct{ Auth string } `json:"auths"`
		DetachKeys string                           `json:"detachKeys"`
	}
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatalf("%s: %v", cfg, err)
	}
	if got.DetachKeys != "ctrl-x,x" || got.Auths["other.example.com"].Auth != "b3RoZXI6c2VjcmV0" || got.Auths[host].Auth == "" {
		t.Errorf("config after login: %s", data)
	}
	if fi, err := os.Stat(cfg); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("config mode after login: %v, %v; want 0640 kept", fi, err)
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{"config.json"}) {
		t.Errorf("the config directory holds %q", names)
	}
}

// A config.json that is a symbolic link (as dotfile managers make) stays
// one: Login writes the file it points at.
func TestLoginFollowsSymlinkedConfig(t *testing.T) {
	host, _ := authServer(t, "u", "pw")
	dir, real := t.TempDir(), t.TempDir()
	t.Setenv("DOCKER_CONFIG", dir)
	target := filepath.Join(real, "docker.json")
	if err := os.WriteFile(target, []byte(`{"auths":{}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "config.json")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if _, err := Login(context.Background(), host, "u", "pw", Options{}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("config.json is no longer a link: %v, %v", fi, err)
	}
	data, err := os.ReadFile(target)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), host) {
		t.Errorf("the link's target was not updated: %s", data)
	}
	if names := dirNames(t, real); !slices.Equal(names, []string{"docker.json"}) {
		t.Errorf("the target's directory holds %q", names)
	}
}

// With a credential helper configured, the password goes to the helper
// and the config file only names the registry.
func TestLoginCredentialHelper(t *testing.T) {
	host, _ := authServer(t, "u", "s3cret-pw")
	bin, dir := t.TempDir(), t.TempDir()
	got := filepath.Join(bin, "stored.json")
	helper := "#!/bin/sh\n" +
		"case \"$1\" in\n" +
		"store) cat > '" + got + "' ;;\n" +
		"get) echo 'credentials not found in native keychain'; exit 1 ;;\n" +
		"*) exit 1 ;;\n" +
		"esac\n"
	if err := os.WriteFile(filepath.Join(bin, "docker-credential-kilntest"), []byte(helper), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("DOCKER_CONFIG", dir)
	cfg := filepath.Join(dir, "config.json")
	if err := os.WriteFile(cfg, []byte(`{"credHelpers":{"`+host+`":"kilntest"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Login(context.Background(), host, "u", "s3cret-pw", Options{}); err != nil {
		t.Fatal(err)
	}
	stored, err := os.ReadFile(got)
	if err != nil {
		t.Fatalf("the helper was not asked to store: %v", err)
	}
	var creds struct{ ServerURL, Username, Secret string }
	if err := json.Unmarshal(stored, &creds); err != nil {
		t.Fatalf("helper input %q: %v", stored, err)
	}
	if creds.ServerURL != host || creds.Username != "u" || creds.Secret != "s3cret-pw" {
		t.Errorf("the helper stored %+v", creds)
	}
	data, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "s3cret-pw") || !strings.Contains(string(data), `"kilntest"`) {
		t.Errorf("config file after login with a helper: %s", data)
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{"config.json"}) {
		t.Errorf("the config directory holds %q", names)
	}
}
