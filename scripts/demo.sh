#!/bin/sh
# The README's first command: install, build, and run bramble's main job on the
# bundled example cluster (manifests/examples), with every output under ./demo.
set -eu
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target bramble >/dev/null
out=${BRAMBLE_DEMO_DIR:-$PWD/demo}
mkdir -p "$out/images"
[ -d "$out/images/demo-os/boot" ] || ./scripts/make-demo-image.sh "$out/images/demo-os"
B=./build/controller/bramble
set -x
$B validate --source manifests/examples
$B plan --source manifests/examples --root "$out" || [ $? -eq 2 ]
$B apply --source manifests/examples --root "$out"
$B status --root "$out"
{ set +x; } 2>/dev/null
echo
echo "demo: the netboot tree is in $out (tftp/, nfs/, dnsmasq/, exports/); try:"
echo "  ls -l $out/tftp; cat $out/tftp/1234abcd/cmdline.txt; cat $out/dnsmasq/bramble.conf"
