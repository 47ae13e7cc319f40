package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kiln-build/kiln/internal/environ"
	"github.com/kiln-build/kiln/pkg/attest"
	"github.com/kiln-build/kiln/pkg/publish"
	"github.com/kiln-build/kiln/pkg/registry"
)

// Environment variables that hold the signing key's password.
const (
	envSignPassword   = "KILN_SIGN_PASSWORD"
	envCosignPassword = "COSIGN_PASSWORD"
)

// supplyFlags are the supply-chain flags: the SBOM format and the key to
// sign with.
type supplyFlags struct {
	sbom    string
	signKey string
}

func (f *supplyFlags) registerSBOM(fs *pflag.FlagSet) {
	fs.StringVar(&f.sbom, "sbom", "", "SBOM attached to each image: spdx, cyclonedx or none (default: kiln.yaml's sbom:, else spdx)")
}

func (f *supplyFlags) registerSign(fs *pflag.FlagSet) {
	fs.StringVar(&f.signKey, "sign-key", "", "sign the images and their provenance with this cosign key (cosign.key; password from $"+envSignPassword+" or $"+envCosignPassword+")")
}

// format is the --sbom format; "" leaves the choice to kiln.yaml.
func (f *supplyFlags) format() (attest.Format, error) {
	if f.sbom == "" {
		return "", nil
	}
	format, err := attest.ParseFormat(f.sbom)
	if err != nil {
		return "", fmt.Errorf("--sbom: %w", err)
	}
	return format, nil
}

// signer loads the --sign-key key, nil without one.
func (f *supplyFlags) signer(env []string) (*attest.Signer, error) {
	if f.signKey == "" {
		return nil, nil
	}
	data, err := os.ReadFile(f.signKey)
	if err != nil {
		return nil, fmt.Errorf("--sign-key: %w", err)
	}
	if env == nil {
		env = os.Environ()
	}
	password, set := environ.Lookup(env, envSignPassword)
	if !set {
		password, set = environ.Lookup(env, envCosignPassword)
	}
	s, err := attest.LoadKey(data, []byte(password))
	switch {
	case errors.Is(err, attest.ErrKeyPassword) && !set:
		return nil, fmt.Errorf("--sign-key %s: %w: set %s (or %s) to the key's password", f.signKey, err, envSignPassword, envCosignPassword)
	case err != nil:
		return nil, fmt.Errorf("--sign-key %s: %w", f.signKey, err)
	}
	return s, nil
}

// publishSigner is s as publishers take it: no signer for a nil s.
func publishSigner(s *attest.Signer) publish.Signer {
	if s == nil {
		return nil
	}
	return s
}

func newVerifyCommand(stdout io.Writer) *cobra.Command {
	var (
		key    string
		asJSON bool
		reg    registry.Options
	)
	cmd := &cobra.Command{
		Use:   "verify REF --key cosign.pub",
		Short: "Check an image's signature, SBOMs and provenance in a registry",
		Long: `Verify checks what is attached to the image REF (and to each platform's
image of an index): a cosign signature that verifies with the public key,
an SBOM referrer, and an SLSA provenance attestation signed with the key.
It prints what it found, and fails when something is missing or does not
verify. Nothing but the registry is contacted (no transparency log).`,
		Example: `  kiln verify 127.0.0.1:5000/hello:latest --key cosign.pub
  kiln verify ghcr.io/org/app@sha256:... --key cosign.pub --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if key == "" {
				return usageError{errors.New("--key is required: the cosign public key (cosign.pub) to verify with")}
			}
			data, err := os.ReadFile(key)
			if err != nil {
				return fmt.Errorf("--key: %w", err)
			}
			v, err := attest.LoadPublicKey(data)
			if err != nil {
				return fmt.Errorf("--key %s: %w", key, err)
			}
			ref, err := reg.ParseReference(args[0])
			if err != nil {
				return err
			}
			rep, err := attest.Verify(cmd.Context(), ref, v, reg.Remote(cmd.Context())...)
			if err != nil {
				return withFlagHint(registry.Explain(err, ref.Context().RegistryStr()))
			}
			if asJSON {
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return err
				}
			} else {
				printVerify(stdout, rep)
			}
			if !rep.OK {
				return errors.New("verification failed: see above")
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&key, "key", "", "cosign public key (cosign.pub) the signatures must verify with")
	f.BoolVar(&asJSON, "json", false, "print the findings as JSON on stdout")
	addRegistryFlags(f, &reg)
	return cmd
}

// printVerify writes what Verify found, one manifest a paragraph.
func printVerify(w io.Writer, rep *attest.Report) {
	fmt.Fprintf(w, "%s (%s)\n", rep.Reference, rep.Digest)
	yes := map[bool]string{true: "yes", false: "no"}
	for i, f := range rep.Images {
		what := "image"
		if f.Platform != "" {
			what = f.Platform
		} else if i == 0 && len(rep.Images) > 1 {
			what = "index"
		}
		fmt.Fprintf(w, "  %s %s\n", what, f.Digest)
		fmt.Fprintf(w, "    signature:  %s\n", yes[f.Signed])
		fmt.Fprintf(w, "    provenance: %s\n", yes[f.Provenance])
		for _, s := range f.SBOMs {
			fmt.Fprintf(w, "    sbom:       %s\n", s)
		}
		fmt.Fprintf(w, "    referrers:  %d\n", f.Referrers)
		for _, p := range f.Problems {
			fmt.Fprintf(w, "    problem:    %s\n", p)
		}
	}
	if rep.OK {
		fmt.Fprintln(w, "verified")
	}
}
