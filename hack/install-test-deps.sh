#!/usr/bin/env bash
# Installs the real consumers kiln's end-to-end tests run against (Debian 12):
# podman (+ runc, conmon, netavark, iptables), skopeo, umoci, docker-registry
# (CNCF Distribution 2.8), htpasswd, and debootstrap and pip for the Python
# tests. Idempotent: when everything is present it only runs one dpkg-query and
# exits. Works from any cwd. See hack/E2E-FINDINGS.md.
set -euo pipefail

# Debian package -> what it gives the tests.
#   podman          container engine (pulls conmon, golang-github-containers-common
#                   with /etc/containers/policy.json)
#   runc            the OCI runtime podman must use here (crun fails: cgroups v1/hybrid)
#   netavark        podman's network backend (without it podman falls back to CNI,
#                   whose plugins are not installed)
#   aardvark-dns    netavark's DNS, only for user-created networks; small, kept for
#                   container-to-container tests
#   iptables        netavark needs it for the default bridge and -p port publishing
#                   ("netavark: No such file or directory" otherwise); --network
#                   host/none work without it
#   skopeo, umoci   independent checkers of OCI layouts
#   docker-registry Distribution registry, served on 127.0.0.1 by the tests
#   apache2-utils   htpasswd -Bbn for registry basic auth
#   debootstrap     makes the Debian 12 + python3 base image of the Python tests
#                   (once; the tests cache it, see test/e2e/pythonbase_test.go)
#   python3-pip     the host's pip, which kiln runs to install Python dependencies
# Not needed as root with vfs storage: uidmap, slirp4netns, fuse-overlayfs, catatonit
# (only for --init), containernetworking-plugins, crun.
#   kubernetes-client kubectl, which kiln apply and kiln create run (only when no
#                   kubectl is installed: other packages ship one too)
PACKAGES=(podman runc conmon netavark aardvark-dns iptables skopeo umoci docker-registry apache2-utils debootstrap python3-pip)
command -v kubectl >/dev/null || PACKAGES+=(kubernetes-client)

declare -A status=()
while read -r pkg st; do
	status[${pkg%%:*}]=$st
done < <(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${PACKAGES[@]}" 2>/dev/null || true)
missing=()
for pkg in "${PACKAGES[@]}"; do
	[[ "${status[$pkg]-}" == ii ]] || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
	echo "install-test-deps: all present ($(podman --version 2>/dev/null || echo podman?), $(skopeo --version 2>/dev/null || echo skopeo?))"
	exit 0
fi

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
	command -v sudo >/dev/null || { echo "install-test-deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
	SUDO=(sudo)
fi

# Never let package installation start the packaged docker-registry service (its
# config listens on every interface). Many container images already ship a
# policy-rc.d that says no; if there is none, put one in place for this run only.
POLICY=/usr/sbin/policy-rc.d
if [[ ! -e $POLICY ]]; then
	"${SUDO[@]}" sh -c "printf '#!/bin/sh\nexit 101\n' > $POLICY && chmod 755 $POLICY"
	trap '"${SUDO[@]}" rm -f "$POLICY"' EXIT
fi

echo "install-test-deps: installing ${missing[*]}"
log=$(mktemp)
apt_opts=(-o DPkg::Lock::Timeout=300 -q)
if ! "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" update >"$log" 2>&1 ||
	! "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" install -y --no-install-recommends "${missing[@]}" >>"$log" 2>&1; then
	tail -n 30 "$log" >&2
	rm -f "$log"
	echo "install-test-deps: apt-get failed" >&2
	exit 1
fi
rm -f "$log"

for cmd in podman runc conmon skopeo umoci docker-registry htpasswd iptables debootstrap python3 kubectl; do
	command -v "$cmd" >/dev/null || { echo "install-test-deps: $cmd still missing after install" >&2; exit 1; }
done
[[ -x /usr/lib/podman/netavark ]] || { echo "install-test-deps: /usr/lib/podman/netavark missing" >&2; exit 1; }
[[ -e /etc/containers/policy.json ]] || { echo "install-test-deps: /etc/containers/policy.json missing (reinstall golang-github-containers-common)" >&2; exit 1; }
echo "install-test-deps: installed ${#missing[@]} package(s): $(podman --version), $(skopeo --version), $(umoci --version)"
