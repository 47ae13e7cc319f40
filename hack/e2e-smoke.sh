#!/usr/bin/env bash
# Smoke test of the real consumers kiln's end-to-end tests rely on, using only local
# means (no network but 127.0.0.1). Each check is one of the findings in
# hack/E2E-FINDINGS.md, so this script is their executable form. It builds a tiny
# static Go HTTP server, packs it into OCI layouts with umoci (single-platform and a
# linux/amd64+linux/arm64 image index), then runs them with podman, inspects them with
# skopeo and umoci, and pushes them to a private docker-registry on 127.0.0.1.
# Everything lives in a throwaway dir (podman store included) and is removed at exit.
#
#   hack/install-test-deps.sh && hack/e2e-smoke.sh
#
# Env: KILN_SMOKE_REGISTRY_PORT (default 5001), KILN_SMOKE_KEEP=1 keeps the work dir.
set -euo pipefail

HACK=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REG_PORT=${KILN_SMOKE_REGISTRY_PORT:-5001}
for cmd in go podman skopeo umoci docker-registry htpasswd curl sha256sum; do
	command -v "$cmd" >/dev/null || { echo "e2e-smoke: missing $cmd (run hack/install-test-deps.sh)" >&2; exit 1; }
done

# Lower-case on purpose: podman names an image pulled from oci:DIR after DIR, and
# refuses upper-case paths ("repository name must be lowercase").
W=/tmp/kiln-e2e-smoke-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
mkdir "$W"
export CONTAINERS_CONF=$HACK/containers.conf CONTAINERS_STORAGE_CONF=$HACK/storage.conf
# A private store per run: parallel runs never see each other's images or containers.
P=(podman --root "$W/podman/root" --runroot "$W/podman/run" --storage-driver vfs)
REG_PIDS=()

cleanup() {
	set +e
	"${P[@]}" rm --all --force --time 0 >/dev/null 2>&1
	"${P[@]}" rmi --all --force >/dev/null 2>&1
	for pid in "${REG_PIDS[@]}"; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
	if [[ ${KILN_SMOKE_KEEP:-} == 1 ]]; then echo "e2e-smoke: kept $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT

passed=0
ok() { passed=$((passed + 1)); echo "ok   $*"; }
fail() { echo "FAIL $*" >&2; exit 1; }
expect() { # expect DESC WANT GOT
	[[ "$3" == *"$2"* ]] || fail "$1: want *$2*, got: $3"
	ok "$1"
}
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }
wait_http() { # wait_http URL [CURL_ARGS...]: up to 10 s for a 200
	local url=$1; shift
	for _ in $(seq 1 200); do
		curl -fsS --max-time 1 "$@" "$url" >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	return 1
}

# --- a tiny static server: "app hello" prints its platform; otherwise serves $PORT.
mkdir -p "$W/src"
cat >"$W/src/main.go" <<'EOF'
package main

import (
	"fmt"
	"net/http"
	"os"
	"runtime"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "hello" {
		fmt.Printf("hello from %s/%s\n", runtime.GOOS, runtime.GOARCH)
		return
	}
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "ok %s/%s\n", runtime.GOOS, runtime.GOARCH)
	})
	if err := http.ListenAndServe(":"+port, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
EOF
printf 'module smoke\n\ngo 1.21\n' >"$W/src/go.mod"
for arch in amd64 arm64; do
	(cd "$W/src" && CGO_ENABLED=0 GOOS=linux GOARCH=$arch GOTOOLCHAIN=local go build -trimpath -ldflags=-s -o "app-$arch" .)
done

# --- OCI layouts made with umoci (no registry, no network).
mklayout() { # mklayout DIR TAG ARCH
	[[ -e $1/index.json ]] || umoci init --layout "$1"
	umoci new --image "$1:$2"
	umoci insert --image "$1:$2" "$W/src/app-$3" /app >/dev/null
	umoci config --image "$1:$2" --config.entrypoint /app --config.env PORT=8080 \
		--config.exposedports 8080/tcp --os linux --architecture "$3"
}
mklayout "$W/single" hello amd64
mklayout "$W/arm" hello arm64
umoci gc --layout "$W/single"
umoci gc --layout "$W/arm"
desc() { # desc ONE_IMAGE_LAYOUT PLATFORM_JSON -> descriptor of its only manifest
	local digest
	digest=$(grep -o '"digest":"sha256:[0-9a-f]*"' "$1/index.json" | head -n1 | cut -d'"' -f4)
	printf '{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%d,"platform":%s}' \
		"$digest" "$(wc -c <"$1/blobs/sha256/${digest#sha256:}")" "$2"
}
index=$(printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[%s,%s]}' \
	"$(desc "$W/single" '{"architecture":"amd64","os":"linux"}')" \
	"$(desc "$W/arm" '{"architecture":"arm64","os":"linux","variant":"v8"}')")
mkdir -p "$W/multi/blobs/sha256"
cp "$W/single/oci-layout" "$W/multi/"
cp "$W/single/blobs/sha256/"* "$W/arm/blobs/sha256/"* "$W/multi/blobs/sha256/"
index_digest=$(printf '%s' "$index" | sha256sum | cut -d' ' -f1)
printf '%s' "$index" >"$W/multi/blobs/sha256/$index_digest"
# index.json -> one image index (ref "multi") -> the two platform manifests.
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:%s","size":%d,"annotations":{"org.opencontainers.image.ref.name":"multi"}}]}' \
	"$index_digest" "${#index}" >"$W/multi/index.json"
ok "built layouts (index sha256:${index_digest:0:12})"

# --- 3a: podman runs straight from an OCI layout.
expect "podman run oci:DIR:REF" "hello from linux/amd64" \
	"$("${P[@]}" run --rm --network none "oci:$W/single:hello" hello 2>/dev/null)"
expect "podman run oci:DIR (single manifest, no ref)" "hello from linux/amd64" \
	"$("${P[@]}" run --rm --network none "oci:$W/single" hello 2>/dev/null)"
expect "podman run oci:DIR:wrong-ref fails" "no descriptor found for reference" \
	"$("${P[@]}" run --rm --network none "oci:$W/single:nope" hello 2>&1 || true)"
expect "podman names oci images localhost/<dir>:latest" "localhost$W/single:latest" \
	"$("${P[@]}" images --format '{{.Repository}}:{{.Tag}}')"
ln -s single "$W/Upper"
expect "podman run oci:DIR with an upper-case DIR fails" "repository name must be lowercase" \
	"$("${P[@]}" run --rm --network none "oci:$W/Upper:hello" hello 2>&1 || true)"
(cd "$W/single" && tar -cf "$W/single.tar" .)
expect "podman load -i oci-archive names the image after ref.name" "localhost/hello:latest" \
	"$("${P[@]}" load -i "$W/single.tar" 2>/dev/null)"
expect "skopeo copy oci:DIR:REF containers-storage:[vfs@ROOT+RUNROOT]NAME" "hello from linux/amd64" \
	"$(skopeo copy -q "oci:$W/Upper:hello" "containers-storage:[vfs@$W/podman/root+$W/podman/run]localhost/kiln/any-path:v1" &&
		"${P[@]}" run --rm --network none localhost/kiln/any-path:v1 hello 2>/dev/null)"

# --- 3b: image index inside the layout.
expect "podman run oci:DIR:REF on an image index picks amd64" "hello from linux/amd64" \
	"$("${P[@]}" run --rm --network none "oci:$W/multi:multi" hello 2>/dev/null)"
id=$("${P[@]}" pull -q --arch arm64 "oci:$W/multi:multi" 2>/dev/null)
expect "podman pull --arch arm64 oci:DIR:REF" "arm64" "$("${P[@]}" image inspect --format '{{.Architecture}}' "$id")"
expect "skopeo inspect --raw oci:DIR:REF gives the index" "application/vnd.oci.image.index.v1+json" \
	"$(skopeo inspect --raw "oci:$W/multi:multi")"
expect "skopeo inspect oci:DIR:REF resolves amd64" '"Architecture": "amd64"' "$(skopeo inspect "oci:$W/multi:multi")"
expect "skopeo --override-arch arm64 inspect" '"Architecture": "arm64"' \
	"$(skopeo --override-arch arm64 inspect "oci:$W/multi:multi")"
expect "umoci unpack of a multi-manifest index is refused" "tag is ambiguous" \
	"$(umoci unpack --image "$W/multi:multi" "$W/bundle-x" 2>&1 || true)"
skopeo copy -q "oci:$W/multi:multi" "oci:$W/amd64only:amd64"
umoci unpack --image "$W/amd64only:amd64" "$W/bundle" >/dev/null
[[ -x $W/bundle/rootfs/app ]] || fail "umoci unpack after skopeo copy"
ok "skopeo copy oci:multi -> oci:single-platform, then umoci unpack"

# --- 3c: networking.
img=$("${P[@]}" pull -q "oci:$W/single:hello" 2>/dev/null)
t0=$(date +%s%N)
cid=$("${P[@]}" run -d -p 127.0.0.1::8080 "$img")
hostport=$("${P[@]}" port "$cid" 8080/tcp) # e.g. 127.0.0.1:40689
wait_http "http://$hostport/" || fail "no 200 from -p 127.0.0.1::8080 ($hostport)"
ok "podman run -d -p 127.0.0.1::8080 -> 200 at $hostport in $(ms_since "$t0") ms"
t0=$(date +%s%N)
"${P[@]}" rm --force --time 0 "$cid" >/dev/null
ok "podman rm -f -t 0 in $(ms_since "$t0") ms"
hport=$((20000 + RANDOM % 20000))
t0=$(date +%s%N)
cid=$("${P[@]}" run -d --network host -e PORT=$hport "$img")
wait_http "http://127.0.0.1:$hport/" || fail "no 200 from --network host"
ok "podman run -d --network host -e PORT=$hport -> 200 in $(ms_since "$t0") ms"
"${P[@]}" rm --force --time 0 "$cid" >/dev/null
[[ -z $("${P[@]}" ps -aq) ]] || fail "containers left after rm"
ok "no containers left"

# --- 3e: private registry on 127.0.0.1 (plain HTTP), then with basic auth.
mkdir -p "$W/reg"
htpasswd -Bbn user pass >"$W/reg/htpasswd"
cat >"$W/reg/open.yml" <<EOF
version: 0.1
log: {level: error}
storage:
  filesystem: {rootdirectory: $W/reg/open}
  delete: {enabled: true}
http: {addr: 127.0.0.1:$REG_PORT}
EOF
docker-registry serve "$W/reg/open.yml" >"$W/reg/open.log" 2>&1 &
REG_PIDS+=($!)
wait_http "http://127.0.0.1:$REG_PORT/v2/" || fail "registry did not answer (port $REG_PORT busy?)"
ok "docker-registry on 127.0.0.1:$REG_PORT"
skopeo copy -q --dest-tls-verify=false "oci:$W/single:hello" "docker://127.0.0.1:$REG_PORT/x:latest"
ok "skopeo copy oci:DIR:REF docker://127.0.0.1:$REG_PORT/x:latest"
skopeo copy -q --all --dest-tls-verify=false "oci:$W/multi:multi" "docker://127.0.0.1:$REG_PORT/multi:latest"
expect "skopeo copy --all keeps the index" "sha256:$index_digest" \
	"$(skopeo inspect --tls-verify=false "docker://127.0.0.1:$REG_PORT/multi:latest")"
expect "podman run from the registry" "hello from linux/amd64" \
	"$("${P[@]}" run --rm --network none --tls-verify=false "127.0.0.1:$REG_PORT/multi:latest" hello 2>/dev/null)"
kill "${REG_PIDS[0]}"; wait "${REG_PIDS[0]}" 2>/dev/null || true; REG_PIDS=()

cat >"$W/reg/auth.yml" <<EOF
version: 0.1
log: {level: error}
storage:
  filesystem: {rootdirectory: $W/reg/auth}
  delete: {enabled: true}
http: {addr: 127.0.0.1:$REG_PORT}
auth: {htpasswd: {realm: r, path: $W/reg/htpasswd}}
EOF
docker-registry serve "$W/reg/auth.yml" >"$W/reg/auth.log" 2>&1 &
REG_PIDS+=($!)
wait_http "http://127.0.0.1:$REG_PORT/v2/" -u user:pass || fail "auth registry did not answer"
expect "auth registry refuses anonymous push" "authentication required" \
	"$(skopeo copy -q --dest-tls-verify=false "oci:$W/single:hello" "docker://127.0.0.1:$REG_PORT/x:latest" 2>&1 || true)"
skopeo copy -q --dest-tls-verify=false --dest-creds user:pass "oci:$W/single:hello" "docker://127.0.0.1:$REG_PORT/x:latest"
"${P[@]}" pull -q --tls-verify=false --creds user:pass "127.0.0.1:$REG_PORT/x:latest" >/dev/null 2>&1
ok "auth registry: skopeo --dest-creds push, podman --creds pull"

echo "e2e-smoke: all $passed checks passed"
