#!/bin/bash
# Hostile input never hangs or starves bramble: a FIFO named as a secret or a
# webhook key is refused at once (plan, apply, and a daemon that still stops on
# SIGTERM); /healthz answers during a slowloris.
# Everything listens on loopback; each daemon is stopped by its PID.
. "$(dirname "$0")/lib.sh"
setup_example
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# stop_daemon: SIGTERM to PID, wait at most 10 s; sets RC and STOP_MS.
stop_daemon() {
	local t0 n=100
	t0=$(now_ms)
	kill -TERM "$PID"
	while kill -0 "$PID" 2>/dev/null && [ $n -gt 0 ]; do sleep 0.05; n=$((n - 1)); done
	kill -0 "$PID" 2>/dev/null && kill -KILL "$PID"
	wait "$PID"; RC=$?
	forget_pid "$PID"
	STOP_MS=$(($(now_ms) - t0))
}
lt() { [ "$1" -lt "$2" ]; }

# --- A FIFO secret: refused at once, never read ----------------------------
# (the old reader blocked in open() forever; timeout turns a hang into 124)
mv "$W/secrets/wifi-passphrase" "$W/secrets/real"
mkfifo "$W/secrets/wifi-passphrase"
expect_rc 1 "plan with a FIFO secret fails at once" timeout 10 "$BRAMBLE" plan --source "$W/repo" --root "$W/out" --set dhcp.testCommand= --set "$SECRETS"
contains "$W/last.err" 'nodes/pi5.yaml:' "the message names file:line:col"
contains "$W/last.err" 'cannot read the secret file (not a regular file)' "and says why"
expect_rc 1 "apply with a FIFO secret fails at once" timeout 10 "$BRAMBLE" apply --source "$W/repo" --root "$W/out" --set dhcp.testCommand= --set "$SECRETS"
contains "$W/last.err" 'not a regular file' "apply says why"

# The daemon: the pass fails, the daemon stays up, and SIGTERM stops it at once.
check "a daemon with a FIFO secret starts" daemon_start "$W/d1.log" \
	--source "$W/repo" --root "$W/out"
check "its first pass ends" wait_for 10 grep -q 'pass (start)' "$W/d1.log"
check "/healthz answers" curl -sf "http://127.0.0.1:$PORT/healthz" -o /dev/null
stop_daemon
check "SIGTERM stops it with exit 0 (rc $RC)" [ "$RC" -eq 0 ]
check "within a second (${STOP_MS} ms)" lt "$STOP_MS" 1000
rm "$W/secrets/wifi-passphrase"
mv "$W/secrets/real" "$W/secrets/wifi-passphrase"

# SIGTERM during a git fetch that hangs (a server that accepts and never
# answers): the daemon stops at once, not at source.timeout (before: 60 s).
python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(4)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
conns = []
while True:
    conns.append(s.accept()[0])' "$W/mute.port" &
MUTE=$!
T_PIDS+=("$MUTE")
check "a mute git server listens" wait_for 10 test -s "$W/mute.port"
check "a daemon fetching from it starts" daemon_start "$W/d0.log" \
	--source "git://127.0.0.1:$(cat "$W/mute.port")/src.git" --root "$W/mute-out" --set source.timeout=60s
sleep 1
check "its first pass is still fetching" sh -c "! grep -q 'pass (start)' '$W/d0.log'"
stop_daemon
check "SIGTERM during the fetch: exit 0 (rc $RC)" [ "$RC" -eq 0 ]
check "within a second (${STOP_MS} ms)" lt "$STOP_MS" 1000
stop_pid "$MUTE"

# A FIFO webhook secret: a start-up error, at once.
mkfifo "$W/hook-fifo"
expect_rc 64 "a FIFO webhook secret is refused at start" timeout 10 \
	"$BRAMBLE" run --source "$W/repo" --root "$W/out" --listen 127.0.0.1:0 \
	--set dhcp.testCommand= --set "$SECRETS" --set webhook.secretFile="$W/hook-fifo"
contains "$W/last.err" 'not a regular file' "it says why"
# Files that libraries read (the SSH key, the image CA bundle): refused before
# anything starts (before: libssh2 or libcurl would block on them).
for key in source.sshKeyFile images.caFile source.knownHostsFile; do
	expect_rc 64 "a FIFO as $key is refused at once" timeout 10 "$BRAMBLE" plan \
		--source "$W/repo" --root "$W/out" --set dhcp.testCommand= --set "$key=$W/hook-fifo"
	contains "$W/last.err" "$key \"$W/hook-fifo\" is not a regular file" "it names $key"
done
# A FIFO configuration file: a usage error, at once.
expect_rc 64 "a FIFO configuration file is refused" timeout 10 "$BRAMBLE" validate --config "$W/hook-fifo"
contains "$W/last.err" 'not a regular file' "it says why"

# --- Secret files only from the secrets directory --------------------------
pi5=$W/repo/nodes/pi5.yaml
cp "$pi5" "$W/pi5.orig"
plan() { timeout 20 "$BRAMBLE" plan --source "$W/repo" --root "$W/out" --set dhcp.testCommand= "$@"; }
# Outside the directory: the webhook secret would be copied into a node root.
printf 'hmac-secret-1\n' >"$W/hook-secret"
sed -i "s|$W/secrets/wifi-passphrase|$W/hook-secret|" "$pi5"
expect_rc 1 "a secret file outside paths.secretsDir is refused" plan --set "$SECRETS"
contains "$W/last.err" "nodes/pi5.yaml:27:" "with its file:line:col"
contains "$W/last.err" "the file is not in the secrets directory; expected a file in \"$W/secrets\" (paths.secretsDir)" "and the reason"
lacks "$W/last.err" "hmac-secret-1" "the content is not shown"
# validate says so too (by the paths' text: the directory need not exist there)
expect_rc 1 "validate refuses a secret file outside paths.secretsDir" \
	"$BRAMBLE" validate --source "$W/repo" --set "$SECRETS"
contains "$W/last.err" "nodes/pi5.yaml:27:" "validate: with its file:line:col"
contains "$W/last.err" "secret file \"$W/hook-secret\" refused: it is not in the secrets directory; expected a file in \"$W/secrets\" (paths.secretsDir)" "validate: and the reason"
lacks "$W/last.out" "configuration OK" "validate does not say OK"
sed -i "s|$W/hook-secret|$W/secrets/./sub/../../hook-secret|" "$pi5"
expect_rc 1 "validate: a .. out of the directory is refused" \
	"$BRAMBLE" validate --source "$W/repo" --set "$SECRETS"
sed -i "s|$W/secrets/./sub/../../hook-secret|$W/secrets//sub/../wifi-passphrase|" "$pi5"
expect_rc 0 "validate: a path that stays inside is accepted" \
	"$BRAMBLE" validate --source "$W/repo" --set "$SECRETS"
expect_rc 1 "validate: the default directory is /etc/bramble/secrets" \
	"$BRAMBLE" validate --source "$W/repo"
contains "$W/last.err" 'expected a file in "/etc/bramble/secrets" (paths.secretsDir)' "validate names it"
cp "$W/pi5.orig" "$pi5"
sed -i "s|$W/secrets/wifi-passphrase|$W/hook-secret|" "$pi5"
# The default directory is /etc/bramble/secrets.
expect_rc 1 "the default secrets directory is /etc/bramble/secrets" plan
contains "$W/last.err" '"/etc/bramble/secrets" (paths.secretsDir)' "it names it"
# A symlink inside the directory that leads out of it.
ln -s "$W/hook-secret" "$W/secrets/escape"
ln -s ../hook-secret "$W/secrets/escape2"
for l in escape escape2; do
	cp "$W/pi5.orig" "$pi5"
	sed -i "s|$W/secrets/wifi-passphrase|$W/secrets/$l|" "$pi5"
	expect_rc 1 "a symlink leading out of the directory is refused ($l)" plan --set "$SECRETS"
	contains "$W/last.err" "not in the secrets directory" "it says why ($l)"
done
cp "$W/pi5.orig" "$pi5"
sed -i "s|$W/secrets/wifi-passphrase|$W/secrets/../hook-secret|" "$pi5"
expect_rc 1 "a path with .. out of the directory is refused" plan --set "$SECRETS"
# The Kubernetes Secret layout (symlinks into ..data) stays inside: accepted.
mkdir "$W/secrets/..data"
mv "$W/secrets/wifi-passphrase" "$W/secrets/..data/"
ln -s ..data/wifi-passphrase "$W/secrets/wifi-passphrase"
cp "$W/pi5.orig" "$pi5"
expect_rc 2 "a symlink inside the directory is followed" plan --set "$SECRETS"
rm "$W/secrets/wifi-passphrase" "$W/secrets/escape" "$W/secrets/escape2"
mv "$W/secrets/..data/wifi-passphrase" "$W/secrets/"

# --- What a file:// Image may name -----------------------------------------
# A regular file readable by everyone, not on a kernel file system.  Nothing is
# recorded about a refused one; what is recorded about a refused image (its
# digest, size and inode) is for root only.
cp "$W/repo/images.yaml" "$W/images.orig"
img_apply() { # img_apply PATH: point demo-os at file://PATH and apply
	cp "$W/images.orig" "$W/repo/images.yaml"
	sed -i "s|^  path: demo-os$|  url: file://$1|" "$W/repo/images.yaml"
	expect_rc 1 "a file:// image of $1 is refused" timeout 20 "$BRAMBLE" apply --source "$W/repo" \
		--root "$W/out" --set dhcp.testCommand= --set "$SECRETS"
}
printf 'root:$6$secret-hash:19000:0:99999:7:::\n' >"$W/shadow"
chmod 600 "$W/shadow"
img_apply "$W/shadow"
contains "$W/last.err" "$W/shadow is not readable by everyone (mode 0600)" "a file only root may read is refused"
check "nothing about it is recorded (images/urls)" test -z "$(ls -A "$W/out/images/urls" 2>/dev/null)"
lacks "$W/out/state/status.json" "secret-hash" "status.json holds nothing of its content"
img_apply /proc/cpuinfo
contains "$W/last.err" "/proc/cpuinfo is on a kernel file system" "a file of /proc is refused"
img_apply /sys/kernel/uevent_seqnum
contains "$W/last.err" "/sys/kernel/uevent_seqnum is on a kernel file system" "a file of /sys is refused"
img_apply /dev/null
contains "$W/last.err" "/dev/null is not a regular file" "a device is refused"
check "still nothing recorded" test -z "$(ls -A "$W/out/images/urls" 2>/dev/null)"
printf 'not a disk image\n' >"$W/text.img"
chmod 644 "$W/text.img"
img_apply "$W/text.img"
check "a public file that is no image: its record is for root only (urls/ 0700)" \
	test "$(stat -c %a "$W/out/images/urls")" = 700
check "and each record 0600" test "$(stat -c %a "$W/out/images/urls"/* | sort -u)" = 600
check "the record of the failure too (failed/ 0700, 0600)" \
	test "$(stat -c %a "$W/out/images/failed" "$W/out/images/failed"/* | sort -u | tr '\n' ' ')" = "600 700 "
cp "$W/images.orig" "$W/repo/images.yaml"

# --- gc: a 3,000-deep tree, 64 descriptors; only what was done is reported --
G=$W/gc
attic_entry() { # attic_entry NAME DEPTH: an expired attic root with a DEPTH-deep chain
	mkdir -p "$G/nfs/.attic/$1/etc"
	python3 - "$G/nfs/.attic/$1" "$2" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
for i in range(int(sys.argv[2])):
    os.mkdir("d", dir_fd=fd)
    n = os.open("d", os.O_RDONLY, dir_fd=fd)
    os.close(fd)
    fd = n
os.close(fd)
PY
	touch -d '40 days ago' "$G/nfs/.attic/$1"
}
attic_entry 1234abcd.gen0.1 3000
expect_rc 0 "gc removes a 3,000-deep attic root with 64 descriptors" \
	prlimit --nofile=64 "$BRAMBLE" gc --root "$G"
check "it lists it" grep -Eq "removed +1234abcd.gen0.1" "$W/last.out"
contains "$W/last.out" "1 past the retention of 30 days: 1 removed" "the summary counts it"
check "it is gone" test ! -e "$G/nfs/.attic/1234abcd.gen0.1"
# A root that cannot be removed (a mount point inside: EBUSY) is not "removed".
attic_entry 2345bcde.gen0.1 3
mkdir "$G/nfs/.attic/2345bcde.gen0.1/mnt"
touch -d '40 days ago' "$G/nfs/.attic/2345bcde.gen0.1"
expect_rc 1 "gc fails when a root cannot be removed" unshare -m sh -c \
	'mount --make-rprivate / && mount -t tmpfs none "$1/nfs/.attic/2345bcde.gen0.1/mnt" && "$2" gc --root "$1"' \
	_ "$G" "$BRAMBLE"
check "it does not list it as removed" sh -c '! grep -Eq "removed +2345bcde" "$1"' _ "$W/last.out"
contains "$W/last.out" "0 removed, 1 could not be removed" "the summary says so"
contains "$W/last.err" "cannot remove" "the error says which"

# --- A 1 GiB blob: the fetch process's memory is bounded ---------------------
# (before: the fetch grew to 1 GB resident inflating it, then the size limit
# refused it; now its address space is limited to 1 GiB and it fails at once)
if grep -q '^BRAMBLE_SANITIZE:BOOL=ON' "${BRAMBLE_BINARY_DIR:-/nonexistent}/CMakeCache.txt" 2>/dev/null; then
	echo "# big-blob fetch skipped: an ASan build has no address-space limit"
else
	git init -q --bare "$W/big.git"
	blob=$(head -c 1073741824 /dev/zero | git --git-dir="$W/big.git" -c core.loosecompression=1 hash-object -w --stdin)
	cl=$(git --git-dir="$W/big.git" hash-object -w "$SRC/manifests/examples/cluster.yaml")
	tree=$(printf '100644 blob %s\tbig.yaml\n100644 blob %s\tcluster.yaml\n' "$blob" "$cl" |
		git --git-dir="$W/big.git" mktree)
	commit=$(git --git-dir="$W/big.git" -c user.name=t -c user.email=t@t commit-tree "$tree" -m big)
	git --git-dir="$W/big.git" update-ref refs/heads/main "$commit"
	python3 -c 'import resource, subprocess, sys
r = subprocess.run(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=open(sys.argv[1], "w"))
print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)' \
		"$W/big.err" "$BRAMBLE" validate --source "file://$W/big.git" --state-dir "$W/big-state" >"$W/big.out"
	read -r rc rss <"$W/big.out"
	check "a repository with a 1 GiB blob is refused (rc $rc)" [ "$rc" -eq 1 ]
	contains "$W/big.err" "the fetch passed its memory limit of 1024 MiB" "the fetch says why"
	check "the largest process stayed under 256 MiB resident (${rss} MiB)" [ "$rss" -lt 256 ]
fi

# --- A slowloris from one client does not starve the probes ---------------
# 100 connections from 127.0.0.2 trickling headers or a webhook body; the
# probes come from 127.0.0.1.  (Before: 64 connections in all filled the
# server and /healthz went unanswered for the whole attack.)
check "a daemon starts" daemon_start "$W/d2.log" --source "$W/repo" --root "$W/out"
check "its first pass applies" wait_for 20 grep -q 'pass (start): applied' "$W/d2.log"
python3 "$SRC/tests/e2e/slowloris.py" "$PORT" 100 4 127.0.0.2 >"$W/loris.out" 2>&1 &
LORIS=$!
T_PIDS+=("$LORIS")
check "the attack is under way" wait_for 10 grep -q ready "$W/loris.out"
probe_ms() { # probe_ms PATH: how long a probe took in ms (curl's own count: connect to
	# the end of the answer, not curl's start-up), or 99999 when it failed
	local t
	t=$(curl -sf -m 3 -w '%{time_total}' "http://127.0.0.1:$PORT$1" -o /dev/null) || { echo 99999; return; }
	awk -v t="$t" 'BEGIN { printf "%d\n", t * 1000 }'
}
for i in 1 2 3; do
	ms=$(probe_ms /healthz)
	check "/healthz answers during the attack, try $i (${ms} ms)" lt "$ms" 1000
	ms=$(probe_ms /readyz)
	check "/readyz answers during the attack, try $i (${ms} ms)" lt "$ms" 1000
	sleep 0.5
done
wait "$LORIS"
forget_pid "$LORIS"
held=$(sed -n 's/^held //p' "$W/loris.out")
check "one client holds at most 16 connections (held ${held:-?})" lt "${held:-999}" 17
stop_daemon
check "the daemon stops on SIGTERM (rc $RC)" [ "$RC" -eq 0 ]

# --- Webhooks: a replayed delivery starts no pass; refusals are logged sparingly
printf 'hmac-secret-1\n' >"$W/hook-key"
chmod 600 "$W/hook-key"
check "a daemon with a webhook secret starts" daemon_start "$W/d3.log" --source "$W/repo" \
	--root "$W/out" --set webhook.secretFile="$W/hook-key"
check "its first pass ends" wait_for 20 grep -q 'pass (start)' "$W/d3.log"
printf '{"ref":"refs/heads/main","after":"1111"}' >"$W/push.json"
sig=$(openssl dgst -sha256 -hmac hmac-secret-1 "$W/push.json" | sed 's/.*= //')
hook() { # hook DELIVERY-HEADER [SIGNATURE]: POST the push; prints the status code
	curl -s -o /dev/null -w '%{http_code}' -X POST -H "$1" \
		-H "X-Hub-Signature-256: sha256=${2:-$sig}" --data-binary "@$W/push.json" \
		"http://127.0.0.1:$PORT/hooks/git"
}
check "a signed delivery is accepted" [ "$(hook 'X-GitHub-Delivery: 72d3162e-1')" = 202 ]
check "the same delivery again starts no pass (200)" [ "$(hook 'X-GitHub-Delivery: 72d3162e-1')" = 200 ]
check "the same body under another delivery id neither" [ "$(hook 'X-Gitea-Delivery: 2')" = 200 ]
check "the replay is logged" wait_for 5 grep -q 'refused: a delivery already seen (replay)' "$W/d3.log"
bad=0000000000000000000000000000000000000000000000000000000000000000
# 200 requests on one connection (one curl), well within the 5 s window
urls=()
for i in $(seq 1 200); do urls+=("http://127.0.0.1:$PORT/hooks/git"); done
t0=$(now_ms)
curl -s -X POST -H "X-Hub-Signature-256: sha256=$bad" --data-binary "@$W/push.json" "${urls[@]}" >/dev/null
t1=$(now_ms)
n=$(grep -c 'refused: bad signature' "$W/d3.log")
if [ $((t1 - t0)) -lt 4500 ]; then
	check "200 refused webhooks in $((t1 - t0)) ms give at most 5 lines (gave $n)" [ "$n" -le 5 ]
else
	check "200 refused webhooks in $((t1 - t0)) ms give at most 5 lines a window (gave $n)" \
		[ "$n" -le $((5 * ((t1 - t0) / 5000 + 2))) ]
fi
sleep 5.2
hook 'X-GitHub-Delivery: late' "$bad" >/dev/null
check "the next window counts the rest" wait_for 5 grep -q 'webhook: … and [0-9]* more refused in the last 5 s' "$W/d3.log"
stop_daemon
check "the daemon stops (rc $RC)" [ "$RC" -eq 0 ]

done_testing
