package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"

	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/configfile"
	"github.com/docker/cli/cli/config/credentials"
	"github.com/docker/cli/cli/config/types"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/kiln-build/kiln/pkg/atomicfile"
)

// Login checks username and password against the registry and, if it
// accepts them, stores them in the docker config ($DOCKER_CONFIG or
// ~/.docker/config.json, through its credential helper if one is set), where
// kiln, docker and crane find them. It returns the config file's path.
// Errors name the registry and user, never the password.
func Login(ctx context.Context, registry, username, password string, o Options) (string, error) {
	o = o.withContextLog(ctx)
	reg, err := name.NewRegistry(registry, o.nameOptions()...)
	if err != nil {
		return "", parseError(registry, true, "is not a registry host (e.g. ghcr.io or 127.0.0.1:5000)", err)
	}
	if username == "" || password == "" {
		return "", fmt.Errorf("logging in to %s needs a username and a password", registry)
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
	// The store saves the config file (through atomicConfig) if the
	// credentials changed.
	if err := credentialsStore(cf, server).Store(types.AuthConfig{ServerAddress: server, Username: username, Password: password}); err != nil {
		return "", fmt.Errorf("storing the credentials for %s in %s: %w", reg.RegistryStr(), cf.Filename, err)
	}
	return cf.Filename, nil
}

// credentialsStore is cf.GetCredentialsStore(server) saving the config
// file through atomicfile: the credential helper configured for server
// (credHelpers, else credsStore), else the config file itself.
func credentialsStore(cf *configfile.ConfigFile, server string) credentials.Store {
	file := atomicConfig{cf}
	helper := cf.CredentialsStore
	if h, ok := cf.CredentialHelpers[server]; ok {
		helper = h
	}
	if helper != "" {
		return credentials.NewNativeStore(file, helper)
	}
	return credentials.NewFileStore(file)
}

// atomicConfig is a docker config whose Save replaces the file through
// atomicfile (docker's own Save neither fsyncs the file nor its directory).
// Like docker's, it writes through a symbolic link to the file it points
// at and keeps the mode of the file it replaces (0600 for a new one).
type atomicConfig struct {
	*configfile.ConfigFile
}

func (c atomicConfig) Save() error {
	if c.Filename == "" {
		return errors.New("the docker config has no file name")
	}
	if err := os.MkdirAll(filepath.Dir(c.Filename), 0o700); err != nil {
		return err
	}
	target := c.Filename
	if p, err := filepath.EvalSymlinks(target); err == nil {
		target = p
	} else if errors.Is(err, fs.ErrNotExist) {
		// A missing file, or a dangling link: write where it points.
		var pe *fs.PathError
		if errors.As(err, &pe) {
			target = pe.Path
		}
	}
	perm := os.FileMode(0o600)
	if fi, err := os.Stat(target); err == nil && fi.Mode().IsRegular() {
		perm = fi.Mode().Perm()
	}
	// docker's library saves some entries it cannot read back (a password
	// without a user name): the file would then break every later docker,
	// podman and kiln command. Such a file is left as it is.
	var buf bytes.Buffer
	if err := c.SaveToWriter(&buf); err != nil {
		return err
	}
	if _, err := config.LoadFromReader(bytes.NewReader(buf.Bytes())); err != nil {
		return fmt.Errorf("the docker config %s, saved, could not be read back (%v), so it was left unchanged: fix its entries (an entry with a password but no user name?) and log in again", c.Filename, err)
	}
	return atomicfile.WriteBytes(target, buf.Bytes(), perm)
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
