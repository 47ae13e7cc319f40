package layer

import (
	"encoding/pem"
	"sync"

	"golang.org/x/crypto/x509roots/fallback/bundle"
)

// CertsPath is where the CA bundle is written; the other common locations
// are links to it.
const CertsPath = "/etc/ssl/certs/ca-certificates.crt"

// certLinks are where other distributions' TLS stacks look for the bundle.
var certLinks = map[string]string{
	"/etc/pki/tls/certs/ca-bundle.crt": "../../../ssl/certs/ca-certificates.crt", // Fedora, RHEL
	"/etc/ssl/cert.pem":                "certs/ca-certificates.crt",              // Alpine, BSDs
}

const passwd = `root:x:0:0:root:/root:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
`

const group = `root:x:0:
nonroot:x:65532:
`

// CABundle returns the pinned Mozilla root certificates as PEM. They come
// from the golang.org/x/crypto/x509roots/fallback module at the version
// go.sum pins, never from the host, so images do not depend on the machine.
// Roots that Mozilla trusts only with a constraint (such as "distrust
// certificates issued after") are left out: a PEM bundle cannot carry the
// constraint, and trusting them without it would be wider than Mozilla.
var CABundle = sync.OnceValue(func() []byte {
	var out []byte
	for r := range bundle.Roots() {
		if r.Constraint != nil {
			continue
		}
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: r.Certificate})...)
	}
	return out
})

// System returns the tree that makes an image from scratch usable: CA
// certificates, passwd and group entries for root and the non-root user
// (65532, "nonroot"), its home directory, and a world-writable /tmp.
func System() *Tree {
	t := NewTree()
	t.AddBytes(CertsPath, CABundle(), 0o644)
	for name, target := range certLinks {
		t.AddSymlink(name, target)
	}
	t.AddBytes("/etc/passwd", []byte(passwd), 0o644)
	t.AddBytes("/etc/group", []byte(group), 0o644)
	t.AddDir("/home/nonroot", 0o700, 65532, 65532)
	t.AddDir("/root", 0o700, 0, 0)
	t.AddDir("/tmp", 0o1777, 0, 0)
	return t
}
