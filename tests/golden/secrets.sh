#!/bin/sh
# Copy a golden case to DEST with its secret files: every {file:
# /run/secrets/bramble/NAME} it names (the examples keep secrets out of git)
# points at DEST.secrets/NAME instead, holding "golden-NAME".  The rendered
# output holds the content, never the path, so it is the same everywhere.
# Usage: tests/golden/secrets.sh CASE_DIR DEST
set -eu
case=$1 dest=$2
cp -rL "$case" "$dest"
mkdir -p "$dest.secrets"
for name in $(grep -rhoE '/run/secrets/bramble/[A-Za-z0-9._-]+' "$dest" | sed 's|.*/||' | sort -u); do
	(umask 077 && printf 'golden-%s\n' "$name" >"$dest.secrets/$name")
done
grep -rl '/run/secrets/bramble/' "$dest" | while read -r f; do
	sed -i "s|/run/secrets/bramble/|$dest.secrets/|g" "$f"
done
