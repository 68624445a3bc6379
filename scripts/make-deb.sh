#!/bin/sh
# Build a Debian package of bramble from this tree: scripts/make-deb.sh [OUTDIR]
# Prints the path of the .deb.  Needs build-essential (dpkg-dev) and the build
# dependencies (scripts/install-deps.sh).
#
# Why dpkg-deb and not debian/ + dpkg-buildpackage or CPack: the package is
# one binary, four units, a conffile and three man pages; a short script
# shows every file it ships and needs neither debhelper nor CPack's DEB
# generator (which cannot mark conffiles or run dpkg-shlibdeps by itself).
set -eu
cd "$(dirname "$0")/.."
src=$(pwd)
out=$(cd "${1:-.}" && pwd)
work=$(mktemp -d /tmp/bramble-deb.XXXXXX)
trap 'rm -rf "$work"' EXIT

cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DBRAMBLE_TESTS=OFF \
	-DCMAKE_INSTALL_PREFIX=/usr >/dev/null
cmake --build "$work/build" -j"$(nproc)" >/dev/null
root=$work/root
DESTDIR=$root cmake --install "$work/build" >/dev/null
strip --remove-section=.comment --remove-section=.note --strip-unneeded "$root/usr/bin/bramble"
version=$("$root/usr/bin/bramble" version | awk '{print $NF}')
arch=$(dpkg --print-architecture)

install -d "$root/lib/systemd/system" "$root/etc/bramble" "$root/usr/share/man/man5" \
	"$root/usr/share/man/man8" "$root/usr/share/bash-completion/completions" \
	"$root/usr/share/doc/bramble" "$root/usr/share/lintian/overrides"
for u in bramble.service bramble-apply.service bramble-apply.timer bramble-dnsmasq.service; do
	install -m 0644 "deploy/systemd/$u" "$root/lib/systemd/system/$u"
done
install -m 0644 deploy/bramble.yaml "$root/etc/bramble/bramble.yaml"
install -d "$root/etc/logrotate.d"
install -m 0644 deploy/debian/logrotate "$root/etc/logrotate.d/bramble-dnsmasq"
install -m 0644 deploy/completion/bramble.bash "$root/usr/share/bash-completion/completions/bramble"
for m in docs/man/*.[0-9]; do
	s=${m##*.}
	gzip -9n <"$m" >"$root/usr/share/man/man$s/$(basename "$m").gz"
done
install -m 0644 deploy/debian/copyright "$root/usr/share/doc/bramble/copyright"
install -m 0644 deploy/debian/lintian-overrides "$root/usr/share/lintian/overrides/bramble"
date=$(git log -1 --format=%aD 2>/dev/null || date -R)
printf 'bramble (%s) unstable; urgency=medium\n\n  * Built from the source tree (%s).\n\n -- bramble authors <bramble@example.invalid>  %s\n' \
	"$version" "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" "$date" |
	gzip -9n >"$root/usr/share/doc/bramble/changelog.gz"
chmod -R go-w "$root"

# Shared-library dependencies, as dpkg-shlibdeps computes them.
mkdir -p "$work/debian"
printf 'Source: bramble\n\nPackage: bramble\nArchitecture: any\n' >"$work/debian/control"
shlibs=$(cd "$work" && dpkg-shlibdeps -O "$root/usr/bin/bramble" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')

install -d "$root/DEBIAN"
for s in postinst prerm postrm; do
	install -m 0755 "deploy/debian/$s" "$root/DEBIAN/$s"
done
printf '/etc/bramble/bramble.yaml\n/etc/logrotate.d/bramble-dnsmasq\n' >"$root/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat >"$root/DEBIAN/control" <<CONTROL
Package: bramble
Version: $version
Architecture: $arch
Maintainer: bramble authors <bramble@example.invalid>
Installed-Size: $size
Depends: $shlibs, dnsmasq-base
Recommends: nfs-kernel-server | nfs-ganesha, systemd
Section: admin
Priority: optional
Homepage: https://example.invalid/bramble
Description: GitOps netboot controller for Raspberry Pi clusters
 bramble keeps a netboot server exactly as a git repository of YAML
 manifests says: the TFTP tree with each Pi's config.txt and cmdline.txt,
 each node's NFS root file system and export, and the dnsmasq
 configuration, on a timer, on a webhook or on demand, so that a Pi with no
 SD card boots straight into its own system.
CONTROL
deb="$out/bramble_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
