#!/bin/sh
# The README's first command: install, build, and run bramble's main job on the
# bundled example cluster: a local git repository made from manifests/examples,
# a small image built locally, every output under ./demo.
set -eu
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target bramble >/dev/null
out=${BRAMBLE_DEMO_DIR:-$PWD/demo}
mkdir -p "$out/images"
[ -d "$out/images/demo-os/boot" ] || ./scripts/make-demo-image.sh "$out/images/demo-os"
# The example cluster as a git repository, the way bramble is meant to be fed.
repo="$out/repo"
if [ ! -d "$repo/.git" ]; then
	mkdir -p "$repo"
	cp -r manifests/examples/. "$repo/"
	# pi5-a's Wi-Fi passphrase is a secret file on the controller host: a demo one.
	mkdir -p "$out/secrets"
	(umask 077 && printf 'demo-passphrase\n' >"$out/secrets/wifi-passphrase")
	sed -i "s|/etc/bramble/secrets/wifi-passphrase|$out/secrets/wifi-passphrase|" "$repo/nodes/pi5.yaml"
	git -C "$repo" init -q -b main
	git -C "$repo" add -A
	git -C "$repo" -c user.name=bramble -c user.email=bramble@localhost commit -qm "example cluster"
fi
B=./build/controller/bramble
S="paths.secretsDir=$out/secrets" # where {file: ...} secrets may be
set -x
$B validate --source "$repo" --set "$S"
$B plan --source "$repo" --root "$out" --set "$S" || [ $? -eq 2 ]
$B apply --source "$repo" --root "$out" --set "$S"
$B status --root "$out"
{ set +x; } 2>/dev/null
echo
echo "demo: the netboot tree is in $out (tftp/, nfs/, dnsmasq/, exports/), from the git"
echo "repository $repo (edit, commit, and apply again; or: $B run --source $repo --root $out --set $S); try:"
echo "  ls -l $out/tftp; cat $out/tftp/1234abcd/cmdline.txt; cat $out/dnsmasq/bramble.conf"
