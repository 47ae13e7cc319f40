package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx"
	"github.com/spdx/tools-golang/spdxlib"
	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
)

const (
	signPassword = "kiln-e2e-key"
	spdxType     = "application/spdx+json"
	dsseType     = "application/vnd.dsse.envelope.v1+json"
)

// supplyTool returns a tool that hack/install-test-tools.sh installs
// (oras, cosign) into the test cache. A missing tool is installed when
// KILN_E2E=1 (cosign takes minutes to build, once); otherwise the test
// skips.
func supplyTool(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(testCacheDir(t), "bin", name)
	if _, err := os.Stat(p); err == nil {
		return p
	}
	if os.Getenv("KILN_E2E") != "1" {
		t.Skipf("%s is not in %s: run hack/install-test-tools.sh", name, filepath.Dir(p))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(repoRoot, "hack", "install-test-tools.sh"))
	cmd.Env = append(os.Environ(), "KILN_TEST_CACHE="+testCacheDir(t))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("hack/install-test-tools.sh: %v\n%s", err, out)
	}
	return p
}

// cosignEnv keeps cosign's state (TUF root, ~/.sigstore) in the test's
// directories and gives it the key's password.
func cosignEnv(t *testing.T) []string {
	home := tempDir(t)
	return []string{"HOME=" + home, "TUF_ROOT=" + filepath.Join(home, "tuf"), "COSIGN_PASSWORD=" + signPassword, "SIGSTORE_NO_CACHE=1"}
}

// cosignKeys makes a key pair with cosign generate-key-pair.
func cosignKeys(t *testing.T, cosign string) (key, pub string) {
	t.Helper()
	dir := tempDir(t)
	cmd := exec.Command(cosign, "generate-key-pair")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), cosignEnv(t)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cosign generate-key-pair: %v\n%s", err, out)
	}
	return filepath.Join(dir, "cosign.key"), filepath.Join(dir, "cosign.pub")
}

// depProject writes a Go program that uses example.com/dep v1.0.0 from a
// file:// module proxy, and returns its directory, the environment that
// builds it, and the go.sum hash of the dependency.
func depProject(t *testing.T) (string, []string, string) {
	t.Helper()
	proxy := tempDir(t)
	vdir := filepath.Join(proxy, "example.com", "dep", "@v")
	src := filepath.Join(tempDir(t), "dep")
	writeFile(t, filepath.Join(src, "go.mod"), "module example.com/dep\n\ngo 1.22\n")
	writeFile(t, filepath.Join(src, "dep.go"), "package dep\n\nconst Version = \"v1.0.0\"\n")
	writeFile(t, filepath.Join(vdir, "v1.0.0.mod"), "module example.com/dep\n\ngo 1.22\n")
	writeFile(t, filepath.Join(vdir, "v1.0.0.info"), `{"Version":"v1.0.0","Time":"2024-01-01T00:00:00Z"}`)
	writeFile(t, filepath.Join(vdir, "list"), "v1.0.0\n")
	zf, err := os.Create(filepath.Join(vdir, "v1.0.0.zip"))
	if err != nil {
		t.Fatal(err)
	}
	if err := modzip.CreateFromDir(zf, module.Version{Path: "example.com/dep", Version: "v1.0.0"}, src); err != nil {
		t.Fatal(err)
	}
	zf.Close()
	env := []string{"GOPROXY=file://" + proxy, "GOSUMDB=off", "GONOSUMDB=example.com", "GOMODCACHE=" + filepath.Join(tempDir(t), "mod"), "GOFLAGS=-modcacherw"}
	dir := filepath.Join(tempDir(t), "supply")
	writeFile(t, filepath.Join(dir, "go.mod"), "module example.com/supply\n\ngo 1.22\n\nrequire example.com/dep v1.0.0\n")
	writeFile(t, filepath.Join(dir, "main.go"), "package main\n\nimport (\n\t\"fmt\"\n\n\t\"example.com/dep\"\n)\n\nfunc main() { fmt.Println(dep.Version) }\n")
	cmd := exec.Command("go", "mod", "download", "example.com/dep")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go mod download: %v\n%s", err, out)
	}
	cmd = exec.Command("go", "mod", "tidy")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go mod tidy: %v\n%s", err, out)
	}
	sums, _ := os.ReadFile(filepath.Join(dir, "go.sum"))
	for _, line := range strings.Split(string(sums), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "example.com/dep" && f[1] == "v1.0.0" {
			return dir, env, f[2]
		}
	}
	t.Fatalf("go.sum has no line for example.com/dep v1.0.0:\n%s", sums)
	return "", nil, ""
}

// discovered lists the referrers oras discover reports, as digest ->
// artifact type.
func discovered(t *testing.T, oras string, env []string, args ...string) map[string]string {
	t.Helper()
	out := command(t, env, oras, append([]string{"discover", "--format", "json"}, args...)...)
	var tree struct {
		Referrers []struct {
			Digest       string `json:"digest"`
			ArtifactType string `json:"artifactType"`
		} `json:"referrers"`
	}
	if err := json.Unmarshal([]byte(out), &tree); err != nil {
		t.Fatalf("oras discover %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	found := map[string]string{}
	for _, r := range tree.Referrers {
		found[r.Digest] = r.ArtifactType
	}
	return found
}

// withType returns the digests of the referrers of artifact type typ.
func withType(found map[string]string, typ string) []string {
	var out []string
	for d, at := range found {
		if at == typ {
			out = append(out, d)
		}
	}
	slices.Sort(out)
	return out
}

// readSPDX parses an SPDX document with spdx/tools-golang and validates
// it.
func readSPDX(t *testing.T, data []byte) *spdx.Document {
	t.Helper()
	doc, err := spdxjson.Read(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("spdx/tools-golang cannot read the SBOM: %v\n%s", err, data)
	}
	if err := spdxlib.ValidateDocument(doc); err != nil {
		t.Fatalf("the SBOM does not validate: %v", err)
	}
	return doc
}

// spdxPackage finds a package of the document by name.
func spdxPackage(doc *spdx.Document, name string) *spdx.Package {
	for _, p := range doc.Packages {
		if p.PackageName == name {
			return p
		}
	}
	return nil
}

// TestSupplyChainRegistries pushes a signed two-platform image to
// Distribution 2.8 (no referrers API: the fallback tag) and to
// go-containerregistry's registry with the referrers API, and checks with
// the real tools that oras discover lists each image's SBOM and
// provenance, that the SBOM oras pulls names the program's dependency at
// its go.sum version, and that cosign verify and verify-attestation pass
// with the key and no transparency log.
func TestSupplyChainRegistries(t *testing.T) {
	oras := supplyTool(t, "oras")
	cosign := supplyTool(t, "cosign")
	key, pub := cosignKeys(t, cosign)
	dir, goEnv, depSum := depProject(t)

	dist := startRegistry(t)
	api := httptest.NewServer(ggcrregistry.New(ggcrregistry.WithReferrersSupport(true), ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(api.Close)
	for _, tc := range []struct {
		name, addr string
		auth       []string
		opts       []remote.Option
		fallback   bool
	}{
		{"distribution fallback tag", dist.addr, dist.dockerConfig(t, dist.pass), dist.remoteOpts(), true},
		{"referrers API", strings.TrimPrefix(api.URL, "http://"), []string{"DOCKER_CONFIG=" + tempDir(t)}, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := append(append(slices.Clone(goEnv), tc.auth...), cosignEnv(t)...)
			env = append(env, "KILN_SIGN_PASSWORD="+signPassword)
			repo := tc.addr + "/supply"
			r := kiln(t, dir, env, "build", "-q", "--platform", "linux/amd64,linux/arm64", "--push", repo, "-t", "v1", "--insecure-registry", "--sign-key", key)
			if r.code != 0 {
				t.Fatalf("kiln build --push --sign-key: exit %d\n%s", r.code, r.stderr)
			}
			checkPushedSupplyChain(t, oras, cosign, pub, env, tc.opts, repo, depSum)
			if tc.fallback {
				checkForeignReferrer(t, oras, key, env, tc.opts, dir, repo)
			}
		})
	}
}

// checkPushedSupplyChain checks repo:v1 with oras, cosign and kiln verify.
func checkPushedSupplyChain(t *testing.T, oras, cosign, pub string, env []string, opts []remote.Option, repo, depSum string) {
	t.Helper()
	idx, err := remote.Index(mustRef(t, repo+":v1"), opts...)
	if err != nil {
		t.Fatal(err)
	}
	im, _ := idx.IndexManifest()
	if len(im.Manifests) != 2 {
		t.Fatalf("index of %d manifests, want 2", len(im.Manifests))
	}
	for _, m := range im.Manifests {
		p := m.Platform.String()
		found := discovered(t, oras, env, "--plain-http", "--platform", p, repo+":v1")
		sboms := withType(found, spdxType)
		// The registry may report an artifact type of its own for
		// cosign's manifest (go-containerregistry's takes the config's
		// media type): find the attestation by its tag.
		att, err := remote.Head(mustRef(t, fmt.Sprintf("%s:sha256-%s.att", repo, m.Digest.Hex)), opts...)
		if err != nil {
			t.Fatalf("%s: no attestation tag: %v", p, err)
		}
		if len(sboms) != 1 || found[att.Digest.String()] == "" {
			t.Fatalf("%s: oras discover found %v: want one SBOM and the provenance %s", p, found, att.Digest)
		}
		out := tempDir(t)
		command(t, env, oras, "pull", "--plain-http", "-o", out, repo+"@"+sboms[0])
		data, err := os.ReadFile(filepath.Join(out, "sbom.spdx.json"))
		if err != nil {
			t.Fatalf("%s: oras pull of the SBOM: %v", p, err)
		}
		doc := readSPDX(t, data)
		dep := spdxPackage(doc, "example.com/dep")
		if dep == nil || dep.PackageVersion != "v1.0.0" || !strings.Contains(dep.PackageComment, depSum) {
			t.Errorf("%s: the SBOM's example.com/dep is %+v, want version v1.0.0 with go.sum's %s", p, dep, depSum)
		}
		if spdxPackage(doc, "stdlib") == nil || spdxPackage(doc, "example.com/supply") == nil {
			t.Errorf("%s: the SBOM lacks the toolchain or the main module", p)
		}
		cosignRun(t, cosign, env, "verify-attestation", "--key", pub, "--type", "slsaprovenance1", repo+"@"+m.Digest.String())
	}
	cosignRun(t, cosign, env, "verify", "--key", pub, repo+":v1")
	cosignRun(t, cosign, env, "verify-attestation", "--key", pub, "--type", "slsaprovenance1", repo+":v1")
	r := kiln(t, "", env, "verify", "--insecure-registry", "--json", repo+":v1", "--key", pub)
	var rep struct {
		OK     bool `json:"ok"`
		Images []struct {
			Signed, Provenance bool
			SBOMs              []string
		} `json:"images"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); r.code != 0 || err != nil || !rep.OK || len(rep.Images) != 3 {
		t.Errorf("kiln verify: exit %d, %v\n%s\n%s", r.code, err, r.stdout, r.stderr)
	}
	// Another key does not verify.
	_, other := cosignKeys(t, cosign)
	if r := kiln(t, "", env, "verify", "--insecure-registry", repo+":v1", "--key", other); r.code == 0 || !strings.Contains(r.stdout, "signature:  no") {
		t.Errorf("kiln verify with another key: exit %d\n%s", r.code, r.stdout)
	}
}

// cosignRun runs a cosign verification offline, with a key and no
// transparency log, and fails the test if it does not pass.
func cosignRun(t *testing.T, cosign string, env []string, args ...string) {
	t.Helper()
	args = append(args[:1:1], append([]string{"--insecure-ignore-tlog=true", "--allow-http-registry", "--allow-insecure-registry"}, args[1:]...)...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cosign, args...)
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("cosign %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// checkForeignReferrer attaches another tool's referrer with oras, pushes
// again, and checks that the fallback tag keeps it beside kiln's.
func checkForeignReferrer(t *testing.T, oras, key string, env []string, opts []remote.Option, dir, repo string) {
	t.Helper()
	idx, err := remote.Index(mustRef(t, repo+":v1"), opts...)
	if err != nil {
		t.Fatal(err)
	}
	im, _ := idx.IndexManifest()
	p := im.Manifests[0].Digest
	note := filepath.Join(tempDir(t), "note.txt")
	writeFile(t, note, "another tool's artifact\n")
	cmd := exec.Command(oras, "attach", "--plain-http", "--artifact-type", "application/vnd.example.note", repo+"@"+p.String(), "note.txt")
	cmd.Dir = filepath.Dir(note)
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("oras attach: %v\n%s", err, out)
	}
	if r := kiln(t, dir, env, "push", "-q", "--repo", repo, "-t", "v1", "--insecure-registry", "--sign-key", key); r.code != 0 {
		t.Fatalf("kiln push: exit %d\n%s", r.code, r.stderr)
	}
	fb, err := remote.Index(mustRef(t, fmt.Sprintf("%s:sha256-%s", repo, p.Hex)), opts...)
	if err != nil {
		t.Fatalf("no fallback tag: %v", err)
	}
	fim, _ := fb.IndexManifest()
	types := map[string]int{}
	for _, d := range fim.Manifests {
		types[d.ArtifactType]++
	}
	if types["application/vnd.example.note"] != 1 || types[spdxType] != 1 || types[dsseType] != 1 {
		t.Errorf("fallback tag lists %v: want the other tool's note and kiln's SBOM and provenance once each", types)
	}
}

// TestSupplyChainReproducible builds the same source in two directories
// into OCI layouts, signed: the referrers (SBOMs, provenance, signatures)
// have the same digests, a rebuild reuses them, and oras discover finds
// them in the layout. A CycloneDX build is read with cyclonedx-go.
func TestSupplyChainReproducible(t *testing.T) {
	oras := supplyTool(t, "oras")
	cosign := supplyTool(t, "cosign")
	key, _ := cosignKeys(t, cosign)
	env := []string{"KILN_SIGN_PASSWORD=" + signPassword, "SOURCE_DATE_EPOCH=1700000000"}
	type result struct {
		Reused bool `json:"reused"`
		Images []struct {
			Attachments []struct{ Digest, ArtifactType, Subject string } `json:"attachments"`
		} `json:"images"`
	}
	build := func(dir, out string, args ...string) (result, []string) {
		t.Helper()
		r := kiln(t, dir, env, append([]string{"build", "-q", "--json", "--platform", "linux/amd64,linux/arm64", "--output", "oci:" + out, "--sign-key", key}, args...)...)
		var res result
		if err := json.Unmarshal([]byte(r.stdout), &res); r.code != 0 || err != nil {
			t.Fatalf("kiln build: exit %d, %v\n%s", r.code, err, r.stderr)
		}
		lp, err := layout.FromPath(out)
		if err != nil {
			t.Fatal(err)
		}
		idx, _ := lp.ImageIndex()
		im, _ := idx.IndexManifest()
		var digests []string
		for _, d := range im.Manifests {
			digests = append(digests, d.Digest.String()+" "+d.ArtifactType)
		}
		slices.Sort(digests)
		return res, digests
	}
	a, b := example(t), example(t)
	outA, outB := filepath.Join(tempDir(t), "out"), filepath.Join(tempDir(t), "out")
	resA, layoutA := build(a, outA)
	resB, layoutB := build(b, outB)
	attA, _ := json.Marshal(resA.Images[0].Attachments)
	attB, _ := json.Marshal(resB.Images[0].Attachments)
	// Per platform an SBOM and a provenance, and one for the index.
	if len(resA.Images[0].Attachments) != 5 || string(attA) != string(attB) {
		t.Errorf("attachments differ or are missing:\n%s\n%s", attA, attB)
	}
	// 1 image + 5 attachments, with the provenance signed (not kept
	// unsigned) + 3 signatures = 9 entries.
	if len(layoutA) != 9 || !slices.Equal(layoutA, layoutB) {
		t.Errorf("layouts differ or lack entries:\n%q\n%q", layoutA, layoutB)
	}
	again, layoutAgain := build(a, outA)
	againAtt, _ := json.Marshal(again.Images[0].Attachments)
	if !again.Reused || string(againAtt) != string(attA) || !slices.Equal(layoutAgain, layoutA) {
		t.Errorf("the unchanged rebuild: reused %v, attachments %s", again.Reused, againAtt)
	}
	for _, p := range []string{"linux/amd64", "linux/arm64"} {
		found := discovered(t, oras, nil, "--oci-layout", "--platform", p, outA+":hello")
		if len(withType(found, spdxType)) != 1 || len(withType(found, dsseType)) != 1 {
			t.Errorf("oras discover --oci-layout --platform %s: %v", p, found)
		}
	}

	// CycloneDX, read back with cyclonedx-go.
	outC := filepath.Join(tempDir(t), "out")
	resC, _ := build(a, outC, "--sbom", "cyclonedx")
	var sbom string
	for _, at := range resC.Images[0].Attachments {
		if at.ArtifactType == "application/vnd.cyclonedx+json" {
			sbom = at.Digest
		}
	}
	if sbom == "" {
		t.Fatalf("no CycloneDX SBOM among %+v", resC.Images[0].Attachments)
	}
	lp, _ := layout.FromPath(outC)
	h, _ := v1.NewHash(sbom)
	img, err := lp.Image(h)
	if err != nil {
		t.Fatal(err)
	}
	layers, _ := img.Layers()
	rc, _ := layers[0].Compressed()
	defer rc.Close()
	var bom cdx.BOM
	if err := cdx.NewBOMDecoder(rc, cdx.BOMFileFormatJSON).Decode(&bom); err != nil {
		t.Fatal(err)
	}
	if bom.SpecVersion != cdx.SpecVersion1_6 || bom.Metadata.Component.Name != "hello" || bom.Components == nil {
		t.Errorf("CycloneDX BOM: spec %v, component %+v", bom.SpecVersion, bom.Metadata.Component)
	}
}

// layoutSBOM reads the SPDX SBOM about the manifest subject from the OCI
// layout dir, as oras finds it: an index.json entry whose manifest has
// that subject.
func layoutSBOM(t *testing.T, dir string, subject v1.Hash) *spdx.Document {
	t.Helper()
	lp, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	idx, _ := lp.ImageIndex()
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range im.Manifests {
		if d.ArtifactType != spdxType {
			continue
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		m, _ := img.Manifest()
		if m.Subject == nil || m.Subject.Digest != subject {
			continue
		}
		layers, _ := img.Layers()
		rc, err := layers[0].Compressed()
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(rc)
		rc.Close()
		return readSPDX(t, data)
	}
	t.Fatalf("%s holds no SPDX SBOM about %s", dir, subject)
	return nil
}

// checkWheelsInSBOM checks that the SBOM lists each wheel of the folder
// wheels by name (pkg -> wheel file) with the version in its file name
// and the file's SHA-256.
func checkWheelsInSBOM(t *testing.T, doc *spdx.Document, wheels string, want map[string]string) {
	t.Helper()
	for name, file := range want {
		p := spdxPackage(doc, name)
		if p == nil {
			t.Errorf("the SBOM lists no %s", name)
			continue
		}
		data, err := os.ReadFile(filepath.Join(wheels, file))
		if err != nil {
			t.Fatal(err)
		}
		sum := fmt.Sprintf("%x", sha256.Sum256(data))
		version := strings.Split(file, "-")[1]
		if p.PackageFileName != file || p.PackageVersion != version || len(p.PackageChecksums) != 1 || p.PackageChecksums[0].Value != sum {
			t.Errorf("the SBOM lists %s as %s %s %v, want %s %s sha256 %s", name, p.PackageFileName, p.PackageVersion, p.PackageChecksums, file, version, sum)
		}
	}
}

// referrerBlobs counts the distinct blobs (configs and documents) of the
// referrers of the last build in the project dir: what a first push of
// them uploads.
func referrerBlobs(t *testing.T, dir string) int {
	t.Helper()
	build := filepath.Join(dir, ".kiln", "last")
	data, err := os.ReadFile(filepath.Join(build, "build.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Images []struct {
			Attachments []struct{ Digest string } `json:"attachments"`
		} `json:"images"`
	}
	if err := json.Unmarshal(data, &res); err != nil {
		t.Fatal(err)
	}
	lp, err := layout.FromPath(filepath.Join(build, "oci"))
	if err != nil {
		t.Fatal(err)
	}
	blobs := map[v1.Hash]bool{}
	for _, img := range res.Images {
		for _, a := range img.Attachments {
			h, _ := v1.NewHash(a.Digest)
			r, err := lp.Image(h)
			if err != nil {
				t.Fatal(err)
			}
			m, _ := r.Manifest()
			blobs[m.Config.Digest] = true
			for _, l := range m.Layers {
				blobs[l.Digest] = true
			}
		}
	}
	return len(blobs)
}
