package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"

	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/types"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Login checks username and password against the registry and, if it
// accepts them, stores them in the docker config ($DOCKER_CONFIG or
// ~/.docker/config.json, through its credential helper if one is set), where
// kiln, docker and crane find them. It returns the config file's path.
// Errors name the registry and user, never the password.
func Login(ctx context.Context, registry, username, password string, o Options) (string, error) {
	reg, err := name.NewRegistry(registry, o.nameOptions()...)
	if err != nil {
		return "", parseError(registry, true, "is not a registry host (e.g. ghcr.io or 127.0.0.1:5000)", err)
	}
	if username == "" || password == "" {
		return "", fmt.Errorf("kiln login %s needs a username and a password (--username, --password-stdin)", registry)
	}
	auth := authn.FromConfig(authn.AuthConfig{Username: username, Password: password})
	// For token registries this already exchanges the credentials; for
	// basic-auth ones, the GET below is what checks them.
	tr, err := transport.NewWithContext(ctx, reg, auth, o.transport(), []string{reg.Scope(transport.PullScope)})
	if err != nil {
		return "", loginError(reg.RegistryStr(), username, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, reg.Scheme()+"://"+reg.RegistryStr()+"/v2/", nil)
	if err != nil {
		return "", err
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return "", loginError(reg.RegistryStr(), username, err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return "", fmt.Errorf("%s refused the login for user %s (%s): check the username and password", reg.RegistryStr(), username, resp.Status)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("login to %s: unexpected answer %s from /v2/", reg.RegistryStr(), resp.Status)
	}

	// Read $DOCKER_CONFIG now, as the keychain does: config.Dir() keeps
	// the first value it saw for the life of the process.
	cf, err := config.Load(os.Getenv(config.EnvOverrideConfigDir))
	if err != nil {
		return "", fmt.Errorf("reading the docker config: %w", err)
	}
	server := reg.RegistryStr()
	if server == name.DefaultRegistry {
		server = authn.DefaultAuthKey
	}
	if err := cf.GetCredentialsStore(server).Store(types.AuthConfig{ServerAddress: server, Username: username, Password: password}); err != nil {
		return "", fmt.Errorf("storing the credentials for %s: %w", reg.RegistryStr(), err)
	}
	if err := cf.Save(); err != nil {
		return "", fmt.Errorf("saving %s: %w", cf.Filename, err)
	}
	return cf.Filename, nil
}

// loginError says which registry refused which user, without the advice
// to log in that Explain gives for other commands.
func loginError(registry, user string, err error) error {
	var te *transport.Error
	if errors.As(err, &te) && (te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden) {
		return fmt.Errorf("%s refused the login for user %s (%d %s): check the username and password", registry, user, te.StatusCode, http.StatusText(te.StatusCode))
	}
	return fmt.Errorf("login to %s as %s failed: %w", registry, user, Explain(err, registry))
}
