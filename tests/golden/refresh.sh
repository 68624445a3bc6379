#!/bin/sh
# Re-render the golden outputs after a deliberate change of the rendering:
#   sh tests/golden/refresh.sh [path/to/bramble]
# then review `git diff tests/golden` and commit it with the change.
set -eu
cd "$(dirname "$0")/../.."
BRAMBLE=${1:-build/controller/bramble}
for case in tests/golden/cases/*/; do
	name=$(basename "$case")
	w=$(mktemp -d)
	sh scripts/make-demo-image.sh "$w/out/images/demo-os" >/dev/null
	sh tests/golden/secrets.sh "$case" "$w/case"
	"$BRAMBLE" apply --source "$w/case" --root "$w/out" --set dhcp.testCommand= \
		--set paths.secretsDir="$w/case.secrets" -q >/dev/null
	python3 tests/golden/dump-tree.py "$w/out" >"tests/golden/expected/$name.txt"
	rm -rf "$w"
	echo "refreshed tests/golden/expected/$name.txt"
done
