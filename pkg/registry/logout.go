package registry

import (
	"fmt"
	"os"

	"github.com/docker/cli/cli/config"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// Logout removes the credentials for registry from the docker config
// (through its credential helper if one is set), as docker logout does.
// It returns the config file's path, and false when there were none.
func Logout(registry string, o Options) (file string, removed bool, err error) {
	reg, err := name.NewRegistry(registry, o.nameOptions()...)
	if err != nil {
		return "", false, fmt.Errorf("%q is not a registry host (e.g. ghcr.io or 127.0.0.1:5000): %w", registry, err)
	}
	cf, err := config.Load(os.Getenv(config.EnvOverrideConfigDir))
	if err != nil {
		return "", false, fmt.Errorf("reading the docker config: %w", err)
	}
	server := reg.RegistryStr()
	if server == name.DefaultRegistry {
		server = authn.DefaultAuthKey
	}
	store := credentialsStore(cf, server)
	if ac, err := store.Get(server); err != nil || (ac.Username == "" && ac.Password == "" && ac.IdentityToken == "" && ac.Auth == "") {
		if _, inFile := cf.AuthConfigs[server]; !inFile {
			return cf.Filename, false, nil
		}
	}
	if err := store.Erase(server); err != nil {
		return "", false, fmt.Errorf("removing the credentials for %s from %s: %w", registry, cf.Filename, err)
	}
	return cf.Filename, true, nil
}
