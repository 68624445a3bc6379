#!/bin/bash
# The container way, checked without a container engine (there is none here):
# the runtime stage of deploy/Dockerfile installs a package for every shared
# library the bramble binary needs (the build stage uses the project's own
# installer, so its build dependencies cannot drift), the base is pinned, a
# HEALTHCHECK probes /healthz, deploy/compose.yaml is a valid Compose file
# (docker-compose config) that drops every capability and runs nothing
# privileged, and the container's configuration loads in bramble.
. "$(dirname "$0")/lib.sh"

D=$SRC/deploy/Dockerfile
runtime=$(awk '/^FROM \$\{DEBIAN\}$/ { on = 1 } on && /apt-get install/ { grab = 1 } grab { print } grab && !/\\$/ { exit }' "$D")
# The libraries bramble links itself (readelf's NEEDED); theirs come along.
for name in $(readelf -d "$BRAMBLE" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p'); do
	case $name in libasan* | libubsan* | libc.so* | libm.so* | ld-linux*) continue ;; esac
	lib=$(ldd "$BRAMBLE" | awk -v n="$name" '$1 == n { print $3 }')
	# dpkg knows a file by the path its package ships (usrmerge: /lib or /usr/lib).
	real=$(readlink -f "$lib")
	pkg=$(dpkg -S "$real" "${real#/usr}" "$lib" 2>/dev/null | head -1 | cut -d: -f1)
	check "the runtime image installs ${pkg:-the package of $name} ($name)" \
		test -n "$pkg" -a -n "$(grep -w -- "${pkg:-none}" <<<"$runtime")"
done
check "the build stage runs the project's installer" grep -q 'sh /src/scripts/install-deps.sh' "$D"
check "the base image is pinned to a point release" grep -Eq '^ARG DEBIAN=debian:12\.[0-9]+-slim$' "$D"
check "a HEALTHCHECK probes /healthz" grep -q 'HEALTHCHECK .*' "$D"
check "a .dockerignore keeps .git and builds out" grep -qx '.git' "$SRC/.dockerignore"

C=$SRC/deploy/compose.yaml
expect_rc 0 "compose.yaml is a valid Compose file" \
	env BRAMBLE_SOURCE=https://git.example.invalid/c.git docker-compose -f "$C" config
cp "$W/last.out" "$W/compose.out"
expect_rc 1 "it refuses to start without BRAMBLE_SOURCE" env -u BRAMBLE_SOURCE docker-compose -f "$C" config
lacks "$W/compose.out" "privileged: true" "no privileged container"
check "every service drops every capability" \
	test "$(grep -c '^    cap_drop:' "$W/compose.out")" -eq "$(grep -c '^  [a-z]*:$' <(sed -n '/^services:/,/^volumes:/p' "$W/compose.out"))"
check "dnsmasq and ganesha share bramble's PID namespace (for reloads)" \
	test "$(grep -c 'pid: service:bramble' "$W/compose.out")" -eq 2

mkdir -p "$W/site/manifests"
cp -r "$SRC/manifests/examples/." "$W/site/manifests/"
example_secrets "$W/site/manifests"
expect_rc 0 "the container's configuration loads" \
	"$BRAMBLE" validate -c "$SRC/deploy/container/bramble.yaml" --source "$W/site/manifests" \
	--set "$SECRETS"
done_testing
