#!/bin/sh
# Copy a golden case to DEST with its secret files: every {file:
# /etc/bramble/secrets/NAME} it names (the examples keep secrets out of git)
# points at DEST.secrets/NAME instead, holding "golden-NAME"; run bramble with
# --set paths.secretsDir=DEST.secrets.  The rendered output holds the
# content, never the path, so it is the same everywhere.
# Usage: tests/golden/secrets.sh CASE_DIR DEST
set -eu
case=$1 dest=$2
cp -rL "$case" "$dest"
mkdir -p "$dest.secrets"
for name in $(grep -rhoE '/etc/bramble/secrets/[A-Za-z0-9._-]+' "$dest" | sed 's|.*/||' | sort -u); do
	(umask 077 && printf 'golden-%s\n' "$name" >"$dest.secrets/$name")
done
grep -rl '/etc/bramble/secrets/' "$dest" | while read -r f; do
	sed -i "s|/etc/bramble/secrets/|$dest.secrets/|g" "$f"
done
