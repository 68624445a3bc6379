#!/bin/bash
# More private roots than one batch holds (make_roots() in
# reconcilers/engine/apply.c makes them 1,024 at a time): 1,100 nodes' roots
# all made, each with its own hostname, a record each, no staging left; a
# second apply changes nothing; an apply stopped by SIGTERM part of the way
# leaves nothing half made that the next apply does not finish; and a
# re-image of every node goes through the attic, batch after batch.
. "$(dirname "$0")/lib.sh"
need_root
N=1100
out=$W/out
mkdir -p "$W/repo/nodes" "$out/images"
sh "$SRC/scripts/make-demo-image.sh" "$out/images/demo-os" >/dev/null
cat >"$W/repo/cluster.yaml" <<'EOF'
apiVersion: bramble/v1alpha1
kind: Cluster
metadata: {name: batch}
spec:
  server: 10.0.0.1
  subnet: 10.0.0.0/16
  router: 10.0.0.254
  dhcp: {mode: full}
  defaults: {image: demo-os, profiles: [base]}
---
apiVersion: bramble/v1alpha1
kind: Image
metadata: {name: demo-os}
spec: {path: demo-os}
EOF
# nodes GENERATION: the N nodes, 100 to a file, each root at that generation
nodes() {
	local i
	rm -f "$W/repo/nodes/"*.yaml
	for ((i = 0; i < N; i++)); do
		printf -- '---\napiVersion: bramble/v1alpha1\nkind: Node\nmetadata: {name: n%04u}\nspec:\n  serial: "%08x"\n  mac: "dc:a6:32:00:%02x:%02x"\n  ip: 10.0.%u.%u\n  root: {mode: private, generation: %u}\n' \
			"$i" $((0xc0000000 + i)) $((i >> 8)) $((i & 255)) $((1 + i / 200)) $((10 + i % 200)) "$1" \
			>>"$W/repo/nodes/n$((i / 100)).yaml"
	done
	printf -- '---\napiVersion: bramble/v1alpha1\nkind: Profile\nmetadata: {name: base}\nspec:\n  boot:\n    configTxt: {arm_64bit: 1}\n' \
		>"$W/repo/profiles.yaml"
}
ab() { "$BRAMBLE" apply --source "$W/repo" --root "$out" --set dhcp.testCommand= "$@"; }
# roots_ok: every node's root in place with its own hostname, one record each, no staging
roots_ok() {
	local i bad=0
	for ((i = 0; i < N; i += 1)); do
		[ "$(cat "$out/nfs/$(printf %08x $((0xc0000000 + i)))/etc/hostname" 2>/dev/null)" = "$(printf n%04u "$i")" ] ||
			bad=$((bad + 1))
	done
	[ "$bad" -eq 0 ] || echo "# $bad roots missing or wrong"
	[ "$bad" -eq 0 ] && [ "$(find "$out/state/roots" -maxdepth 1 -type f | wc -l)" -eq "$N" ] &&
		[ ! -e "$out/nfs/.staging" ]
}

nodes 0
expect_rc 0 "apply $N private roots" ab -q
check "$N roots, each its own hostname, a record each, no staging left" roots_ok
ab >"$W/noop.out" 2>&1
contains "$W/noop.out" ": 0 created, 0 updated, 0 deleted," "a second apply changes nothing"

# Re-image every node, stopped by SIGTERM once the first batch is placed, then again.
nodes 1
"$BRAMBLE" apply -q --source "$W/repo" --root "$out" --set dhcp.testCommand= >"$W/stopped.out" 2>&1 &
pid=$!
# Stopped once the first batch has placed a root (its old one in the attic).
while kill -0 "$pid" 2>/dev/null && [ -z "$(ls -A "$out/nfs/.attic" 2>/dev/null)" ]; do
	sleep 0.01
done
kill -TERM "$pid" 2>/dev/null
wait "$pid"
echo "# the stopped apply exited $?; records at generation 1 after it:" \
	"$(grep -l '^generation 1$' "$out/state/roots/"* | wc -l) of $N"
expect_rc 0 "the apply after a stopped re-image" ab -q
check "$N roots after the stop and the apply after it" roots_ok
gens=$(for f in "$out/state/roots/"*; do sed -n 's/^generation \([0-9]*\)$/\1/p' "$f"; done | sort | uniq -c | awk '{print $2 ":" $1}')
check "every record at generation 1 ($gens)" [ "$gens" = "1:$N" ]
check "the $N old roots in the attic" [ "$(find "$out/nfs/.attic" -mindepth 1 -maxdepth 1 | wc -l)" -eq "$N" ]
ab >"$W/noop2.out" 2>&1
contains "$W/noop2.out" ": 0 created, 0 updated, 0 deleted," "then an apply changes nothing"
done_testing
