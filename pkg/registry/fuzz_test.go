package registry

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/configfile"
)

// FuzzDockerConfig feeds a docker config.json (or podman auth.json) to the
// loaders kiln's keychain and kiln login use: config.Load on a
// $DOCKER_CONFIG directory and config.LoadFromReader for podman's auth
// file. They must agree; errors must say something; an accepted file must
// look up credentials from the file itself (credential helpers, which
// would run programs the file names, are switched off), and save and load
// again with the same registries.
func FuzzDockerConfig(f *testing.F) {
	for _, seed := range []string{
		`{}`,
		`{"auths":{"ghcr.io":{"auth":"dXNlcjpwYXNz"}}}`,
		`{"auths":{"https://index.docker.io/v1/":{"auth":"dXNlcjpwYXNz","identitytoken":"tok"}},"credsStore":"desktop"}`,
		`{"auths":{"127.0.0.1:5000":{"username":"u","password":"p"}},"credHelpers":{"gcr.io":"gcloud"}}`,
		`{"auths":{"x":{"auth":"not base64!"}}}`,
		`{"auths":{"x":{"auth":"Zm9v"}}}`,
		`{"auths":{"x":{"auth":"OnBhc3M="}}}`,
		`{"auths":[]}`,
		`{"proxies":{"default":{"httpProxy":"http://proxy:3128"}},"psFormat":"table"}`,
		``,
		`null`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		p := filepath.Join(dir, config.ConfigFileName)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		cf, err := config.Load(dir)
		cr, rerr := config.LoadFromReader(bytes.NewReader(data))
		if err != nil {
			if err.Error() == "" {
				t.Fatal("config.Load failed with an empty message")
			}
			if rerr == nil && len(bytes.TrimSpace(data)) > 0 {
				t.Fatalf("config.Load failed (%v) where LoadFromReader did not", err)
			}
			return
		}
		if rerr != nil && len(bytes.TrimSpace(data)) > 0 {
			t.Fatalf("LoadFromReader failed (%v) where config.Load did not", rerr)
		}
		if cf.Filename != p {
			t.Fatalf("Filename = %q, want %q", cf.Filename, p)
		}
		keys := registries(cf)
		if cr != nil && len(bytes.TrimSpace(data)) > 0 && !slices.Equal(keys, registries(cr)) {
			t.Fatalf("config.Load read registries %q, LoadFromReader %q", keys, registries(cr))
		}
		cf.CredentialsStore, cf.CredentialHelpers = "", nil
		for _, k := range append(keys, "ghcr.io", "https://index.docker.io/v1/") {
			ac, err := cf.GetAuthConfig(k)
			if err != nil {
				t.Fatalf("GetAuthConfig(%q) from the file: %v", k, err)
			}
			if want := cf.AuthConfigs[k]; slices.Contains(keys, k) && (ac.Username != want.Username || ac.Password != want.Password) {
				t.Fatalf("GetAuthConfig(%q) = user %q, not the file's %q", k, ac.Username, want.Username)
			}
		}
		// kiln login saves through atomicConfig: it writes a config that
		// loads again, or refuses and writes nothing.
		cf.Filename = filepath.Join(dir, "saved", config.ConfigFileName)
		if err := (atomicConfig{cf}).Save(); err != nil {
			if err.Error() == "" {
				t.Fatal("Save failed with an empty message")
			}
			if _, serr := os.Stat(cf.Filename); serr == nil {
				t.Fatalf("a refused Save (%v) wrote the file", err)
			}
			return
		}
		again, err := config.Load(filepath.Dir(cf.Filename))
		if err != nil {
			saved, _ := os.ReadFile(cf.Filename)
			t.Fatalf("a saved config does not load: %v\n%s", err, saved)
		}
		if got := registries(again); !slices.Equal(got, keys) {
			t.Fatalf("registries %q became %q after save and load", keys, got)
		}
	})
}

// registries lists the keys of a config's auths, sorted.
func registries(cf *configfile.ConfigFile) []string {
	var keys []string
	for k := range cf.AuthConfigs {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, strings.Compare)
	return keys
}
