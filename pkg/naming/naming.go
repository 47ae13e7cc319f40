// Package naming names images under the repository they are pushed to,
// with ko's naming strategies.
package naming

import (
	"crypto/md5" //nolint:gosec // ko's image names, not a security measure
	"encoding/hex"
	"fmt"
	"path"
	"strings"
)

// Strategies, as kiln.yaml's naming: and ko's flags name them.
const (
	Default  = "default"               // REPO/<last element>-<md5 of import path>
	Bare     = "bare"                  // REPO itself
	Base     = "base-import-paths"     // REPO/<last element>
	Preserve = "preserve-import-paths" // REPO/<import path>
)

// Validate accepts a strategy, or "" for none.
func Validate(s string) error {
	switch s {
	case "", Default, Bare, Base, Preserve:
		return nil
	}
	return fmt.Errorf("naming: %q is not a naming strategy; use %s, %s, %s or %s", s, Default, Bare, Base, Preserve)
}

// Name is the repository an image with the import path ip is pushed to
// under repo with strategy s, as ko names them: the import path is
// lowercased, then
//
//	default (or ""):       REPO/<last element>-<hex md5 of the import path>
//	bare:                  REPO
//	base-import-paths:     REPO/<last element>
//	preserve-import-paths: REPO/<import path>
func Name(repo, s, ip string) string {
	ip = strings.ToLower(ip)
	switch s {
	case Bare:
		return repo
	case Base:
		return path.Join(repo, path.Base(ip))
	case Preserve:
		return path.Join(repo, ip)
	}
	sum := md5.Sum([]byte(ip)) //nolint:gosec // see the import
	return path.Join(repo, path.Base(ip)+"-"+hex.EncodeToString(sum[:]))
}
