#!/bin/sh
# Install what bramble needs to build, run and test, from Debian's archive.
# Usage: scripts/install-deps.sh [--test]   (--test adds the servers the tests drive)
set -eu
BUILD="build-essential cmake pkg-config git ca-certificates libyaml-dev libjansson-dev libssl-dev \
libgit2-dev libcurl4-openssl-dev libmicrohttpd-dev libarchive-dev liblzma-dev libext2fs-dev libcmocka-dev"
RUN="dnsmasq-base"
TEST="python3 python3-yaml python3-jsonschema iproute2 iputils-ping busybox atftp \
nfs-ganesha nfs-ganesha-vfs nfs-kernel-server libnfs-utils rpcbind kmod util-linux \
mtools dosfstools fdisk e2fsprogs clang-format curl prometheus lighttpd lighttpd-mod-openssl openssl openssh-server \
xz-utils zstd zip attr libcap2-bin xfsprogs mandoc lintian man-db docker-compose debootstrap qemu-system-x86 \
qemu-system-arm python3-kubernetes"
# kubectl (kustomize) for tests/e2e/test_kubernetes.sh: Debian's kubernetes-client,
# unless a kubectl is there already (another package's /usr/bin/kubectl, e.g. the
# cloud SDK's, cannot be installed beside it; the test works with either).
command -v kubectl >/dev/null 2>&1 || TEST="$TEST kubernetes-client"
PKGS="$BUILD $RUN"
[ "${1:-}" = "--test" ] && PKGS="$PKGS $TEST"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
	echo "install-deps: everything is installed"
	exit 0
fi
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "install-deps: installing$missing"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
