#!/bin/bash
# The Debian package, installed for real: scripts/make-deb.sh builds it,
# lintian has no error or warning, dpkg -i installs it on this machine, the
# installed binary runs, the installed units pass systemd-analyze verify and
# the installed configuration loads; dpkg -r removes everything but the
# conffile, and dpkg --purge removes that too. The cluster's data directories
# are left alone by both.  The installed copyright file (DEP-5, checked by
# lintian) carries LICENSE's text.
. "$(dirname "$0")/lib.sh"
need_root
if dpkg-query -W -f='${Status}' bramble 2>/dev/null | grep -q installed; then
	# A real installation on this machine: never replace it with a test build.
	echo "$T_NAME: skipped (a bramble package is installed here)"
	exit 77
fi
INSTALLED=
# Directories the package makes that were not here before are removed at the
# end when empty (the package itself never removes data directories).
NEW_DIRS=()
for d in /srv/bramble /var/lib/bramble /etc/exports.d; do [ -e "$d" ] || NEW_DIRS+=("$d"); done
cleanup_pkg() {
	[ -z "$INSTALLED" ] || dpkg --purge bramble >/dev/null 2>&1
	for d in "${NEW_DIRS[@]:-}"; do
		[ -n "$d" ] && [ -d "$d" ] && find "$d" -depth -type d -empty -delete
	done
}
trap 'cleanup_pkg; t_cleanup' EXIT

deb=$(sh "$SRC/scripts/make-deb.sh" "$W" 2>"$W/build.err" | tail -1)
check "make-deb.sh builds a package" test -f "$deb"
sed 's/^/    | /' "$W/build.err" | head -20
lintian --tag-display-limit 0 "$deb" >"$W/lintian.out" 2>&1
check "lintian: no error and no warning" bash -c "! grep -E '^(E|W): ' '$W/lintian.out'"
sed 's/^/    | /' "$W/lintian.out" | grep -v 'running with root' | head -20

mkdir -p /srv/bramble/nfs
touch /srv/bramble/nfs/.bramble-test-keep
expect_rc 0 "dpkg -i installs it" dpkg -i "$deb"
INSTALLED=1
check "bramble is on the PATH" test -x /usr/bin/bramble
expect_rc 0 "the installed binary runs" /usr/bin/bramble version
contains "$W/last.out" "$(basename "$deb" | cut -d_ -f2)" "and says the package's version"
expect_rc 0 "systemd-analyze verify accepts the installed units" systemd-analyze verify \
	/lib/systemd/system/bramble.service /lib/systemd/system/bramble-apply.service \
	/lib/systemd/system/bramble-apply.timer /lib/systemd/system/bramble-dnsmasq.service
lacks "$W/last.err" "bramble" "verify says nothing about them (man pages found too)"
contains /usr/share/doc/bramble/copyright "License: ISC" "the installed copyright names the licence"
# The licence text in the package is the tree's LICENSE, word for word.
same_licence() {
	python3 - "$SRC/LICENSE" "$1" <<'EOF'
import sys
lic = open(sys.argv[1]).read()
lic = lic[lic.index("Permission"):].split()
cp = open(sys.argv[2]).read().split("\nLicense: ISC\n")[-1]
cp = [w for line in cp.splitlines() for w in (line[1:] if line != " ." else "").split()]
sys.exit(0 if lic == cp else 1)
EOF
}
check "the copyright's licence text is LICENSE's" same_licence /usr/share/doc/bramble/copyright
check "man bramble finds the page" bash -c 'man -w bramble >/dev/null 2>&1 || test -f /usr/share/man/man8/bramble.8.gz'
check "the output roots are made" test -d /srv/bramble/tftp -a -d /srv/bramble/dnsmasq/hosts.d
check "the state directory is private" test "$(stat -c %a /var/lib/bramble)" = 700
# The shipped configuration loads; its source is a placeholder, so name one
# (a directory laid out as the configuration's source.path says).
mkdir -p "$W/site" && cp -r "$SRC/manifests/examples" "$W/site/manifests"
expect_rc 0 "the installed configuration loads and validates the examples" \
	/usr/bin/bramble validate --config /etc/bramble/bramble.yaml --source "$W/site"

echo "# edited by the operator" >>/etc/bramble/bramble.yaml
expect_rc 0 "dpkg -r removes it" dpkg -r bramble
check "the binary is gone" test ! -e /usr/bin/bramble
check "the units are gone" test ! -e /lib/systemd/system/bramble.service
check "the edited conffile stays after remove" grep -q "edited by the operator" /etc/bramble/bramble.yaml
expect_rc 0 "dpkg --purge purges it" dpkg --purge bramble
INSTALLED=
check "the conffile is gone after purge" test ! -e /etc/bramble/bramble.yaml
check "node roots are never removed by the package" test -e /srv/bramble/nfs/.bramble-test-keep
rm -f /srv/bramble/nfs/.bramble-test-keep
done_testing
