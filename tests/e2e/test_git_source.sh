#!/bin/bash
# The git source against real servers on loopback (TESTBED.md §5).
#   1. clone and follow over file://, git daemon, smart HTTP (python's CGI
#      server + git-http-backend) and HTTPS (lighttpd, a self-signed
#      certificate trusted through source.caFile); an untrusted certificate is
#      refused; basic auth with source.tokenFile, and no secret ever shows in
#      an output, the status or the state directory
#   2. a commit that adds, changes and removes nodes is applied; a broken one
#      is not (file:line:col; the last applied revision keeps serving), and the
#      next good one is
#   3. force-push; remote down, then back; the cache deleted, left locked or
#      corrupt; a missing ref; a fetch that hangs past source.timeout; a tag
#      and a commit id as ref; manifests under a subdirectory (source.path)
#   4. ssh (when sshd is installed): key auth, host keys checked against
#      known_hosts (plain and hashed), unknown or changed host keys refused
# As root it runs in a network namespace of its own (only lo), so its ports
# never collide with anything; otherwise on 127.0.0.1 with ports from its PID.
if [ "$(id -u)" -eq 0 ] && [ -z "${BRAMBLE_GIT_NETNS:-}" ] && unshare -n true 2>/dev/null; then
	export BRAMBLE_GIT_NETNS=1
	exec unshare -n bash "$0" "$@"
fi
. "$(dirname "$0")/lib.sh"
[ -z "${BRAMBLE_GIT_NETNS:-}" ] || ip link set lo up
command -v git >/dev/null || skip_test "no git"

export HOME=$W/home GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_NAME=test GIT_AUTHOR_EMAIL=test@example.com
export GIT_COMMITTER_NAME=test GIT_COMMITTER_EMAIL=test@example.com
mkdir -p "$HOME" "$W/git" "$W/out/images"
chmod 755 "$W" # the CGI server runs git-http-backend as nobody
base=$((20000 + ($$ % 1000) * 8))
P_GITD=$base P_HTTP=$((base + 1)) P_HTTPS=$((base + 2)) P_HANG=$((base + 3)) P_SSH=$((base + 4))
GITD=git://127.0.0.1:$P_GITD/src.git
TOKEN="tok-$$-9f8e7d6c5b4a"
ALL=$W/all-output # every output of bramble, searched for secrets at the end

# --- the repository: a working copy pushed into $W/git/src.git
sh "$SRC/scripts/make-demo-image.sh" "$W/out/images/demo-os" >/dev/null
cp -r "$SRC/manifests/examples" "$W/work"
example_secrets "$W/work"
git -C "$W/work" init -q -b main
git -C "$W/work" add -A && git -C "$W/work" commit -qm initial
git clone -q --bare "$W/work" "$W/git/src.git"
git -C "$W/work" remote add origin "$W/git/src.git"
C1=$(git -C "$W/work" rev-parse HEAD)
# push_commit MSG: commit everything in the working copy, push it (forced), print the commit
push_commit() {
	git -C "$W/work" add -A && git -C "$W/work" commit -qm "$1" &&
		git -C "$W/work" push -q -f origin main 2>/dev/null && git -C "$W/work" rev-parse HEAD
}
head_commit() { git -C "$W/git/src.git" rev-parse main; }

# bramble on a root ($R, default $W/out) from a URL ($U, default git daemon)
R=$W/out U=$GITD
b() {
	"$BRAMBLE" "$1" --source "$U" --root "$R" --image-store "$W/out/images" \
		--set dhcp.testCommand= --set "$SECRETS" --set source.ref=main "${@:2}"
}
# run RC DESCRIPTION ARGS...: expect_rc on b, keeping the output for the secret check
run() {
	expect_rc "$1" "$2" b "${@:3}"
	cat "$W/last.out" "$W/last.err" >>"$ALL"
}
# st KEY [ROOT]: a top-level string of the status document
st() {
	"$BRAMBLE" status --json --root "${2:-$R}" | python3 -c '
import json, sys
d = json.load(sys.stdin)
if sys.argv[1] == "ready":
    print(" ".join(c["reason"] for c in d.get("conditions", []) if c["type"] == "Ready"))
elif sys.argv[1] == "errors":
    print("\n".join(d.get("errors", [])))
else:
    print(d.get(sys.argv[1], ""))' "$1"
}
port_open() { (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# elapsed_ok START MIN MAX: seconds since START (date +%s%N) within [MIN, MAX]
elapsed_ok() {
	local ms=$((($(date +%s%N) - $1) / 1000000))
	echo "    (took ${ms} ms)"
	[ "$ms" -ge $(($2 * 1000)) ] && [ "$ms" -le $(($3 * 1000)) ]
}
start_gitd() {
	git daemon --listen=127.0.0.1 --port="$P_GITD" --base-path="$W/git" --export-all \
		--reuseaddr "$W/git" 2>>"$W/gitd.log" &
	GITD_PID=$!
	T_PIDS+=("$GITD_PID")
	wait_for 5 git ls-remote "$GITD"
}
check "git daemon serves the repository" start_gitd

# --- 2. apply and follow over git daemon
run 0 "first apply clones over git daemon" apply
check "applied revision is main@sha1:<commit>" test "$(st lastAppliedRevision)" = "main@sha1:$C1"
check "the cache is a bare repository in the state directory" test -f "$W/out/state/git-cache/HEAD" -a ! -e "$W/out/state/git-cache/.git"
check "pi4-b is served" test -f "$W/out/tftp/2345bcde/config.txt"
packs=$(ls -i "$W/out/state/git-cache/objects/pack")
run 0 "second apply: fetch again, nothing to change" apply
contains "$W/last.out" "0 created, 0 updated, 0 deleted" "second apply changes nothing"
check "steady state: the cache is kept, not cloned again" test "$packs" = "$(ls -i "$W/out/state/git-cache/objects/pack")"

python3 - "$W/work/nodes/pi4.yaml" <<'PY'
import sys
p = sys.argv[1]
docs = open(p).read().split("\n---\n")
open(p, "w").write("\n---\n".join(d for d in docs if "2345bcde" not in d))
PY
sed -i 's/enable_uart: 1/enable_uart: 0/' "$W/work/profiles.yaml"
cat >"$W/work/nodes/extra.yml" <<'EOF'
apiVersion: bramble/v1alpha1
kind: Node
metadata:
  name: pi4-c
spec:
  serial: 4567def0
  mac: dc:a6:32:00:00:07
  ip: 10.99.0.47
  model: pi4
EOF
C2=$(push_commit "add pi4-c, remove pi4-b, uart off")
run 0 "a commit that adds, changes and removes nodes is applied" apply
check "applied revision follows the branch" test "$(st lastAppliedRevision)" = "main@sha1:$C2"
check "added node (a .yml file) is served" test -f "$W/out/tftp/4567def0/config.txt"
check "removed node is gone" test ! -e "$W/out/tftp/2345bcde"
contains "$W/out/tftp/1234abcd/config.txt" "enable_uart=0" "changed profile is rendered"

# a broken manifest is not applied; the previous revision keeps serving
echo "  bogusKey: 1" >>"$W/work/nodes/pi5.yaml"
C3=$(push_commit "broken")
before=$(snapshot "$W/out")
run 1 "a commit with a broken manifest is not applied" apply
check "the error names file:line:col" grep -Eq 'nodes/pi5\.yaml:[0-9]+:[0-9]+: ' "$W/last.err"
check "lastAppliedRevision stays the previous commit" test "$(st lastAppliedRevision)" = "main@sha1:$C2"
check "lastAttemptedRevision is the broken commit" test "$(st lastAttemptedRevision)" = "main@sha1:$C3"
check "status says ValidationFailed" test "$(st ready)" = ValidationFailed
check "outputs unchanged after the broken commit" test "$before" = "$(snapshot "$W/out")"
sed -i '/bogusKey/d' "$W/work/nodes/pi5.yaml"
C4=$(push_commit "fixed")
run 0 "the following good commit is applied" apply
check "applied revision is the fixed commit" test "$(st lastAppliedRevision)" = "main@sha1:$C4"

# A settled state is sealed; a commit that changes only a file of Nodes is a delta pass.
sleep 1.1
run 0 "a settling apply" apply
run 0 "the next apply is sealed" apply -v
contains "$W/last.err" "sealed pass:" "a settled pass over the same commit is sealed"
sed -i 's/ip: 10.99.0.44/ip: 10.99.0.54/' "$W/work/nodes/pi5.yaml"
C4b=$(push_commit "pi5-a moves to .54")
run 0 "a commit that changes one node file is applied" apply -v
contains "$W/last.err" "delta pass:" "a commit of node files only is a delta pass"
contains "$W/out/exports/bramble.exports" "10.99.0.54(" "the node's export follows its new address"
sed -i 's/ip: 10.99.0.54/ip: 10.99.0.44/' "$W/work/nodes/pi5.yaml"
C4=$(push_commit "pi5-a back to .44")
run 0 "and back" apply

# force-push: history rewritten under the same branch
sed -i 's/enable_uart: 0/enable_uart: 1/' "$W/work/profiles.yaml"
git -C "$W/work" commit -qa --amend -m "fixed, rewritten"
git -C "$W/work" push -q -f origin main 2>/dev/null
C5=$(head_commit)
check "the remote history was rewritten" test "$C5" != "$C4" -a "$(git -C "$W/git/src.git" merge-base --is-ancestor "$C4" "$C5" && echo yes)" != yes
run 0 "apply after a force-push" apply
check "the force-pushed commit is applied" test "$(st lastAppliedRevision)" = "main@sha1:$C5"
contains "$W/out/tftp/1234abcd/config.txt" "enable_uart=1" "the rewritten content is rendered"

# remote down, then back
stop_pid "$GITD_PID"
touch "$W/work/nodes/.keep" && C6=$(push_commit "while the daemon is down")
before=$(snapshot "$W/out")
run 1 "apply with the remote down fails" apply
contains "$W/last.err" "cannot fetch from git://127.0.0.1:$P_GITD/src.git" "the error says the fetch failed and from where"
check "status says FetchFailed" test "$(st ready)" = FetchFailed
check "status errors say why" sh -c "'$BRAMBLE' status --json --root '$R' | grep -q 'cannot fetch from'"
check "lastAppliedRevision kept while the remote is down" test "$(st lastAppliedRevision)" = "main@sha1:$C5"
check "outputs unchanged while the remote is down" test "$before" = "$(snapshot "$W/out")"
check "git daemon back up" start_gitd
run 0 "apply once the remote is back" apply
check "the commit pushed meanwhile is applied" test "$(st lastAppliedRevision)" = "main@sha1:$C6"

# --- 3. the cache: deleted, locked, corrupt
cache=$W/out/state/git-cache
rm -rf "$cache"
run 0 "cache deleted: cloned again" apply
check "cache re-created" test -f "$cache/HEAD" -a "$(st lastAppliedRevision)" = "main@sha1:$C6"
touch "$cache/config.lock"
run 0 "cache left locked (config.lock): recovers" apply
check "stale config.lock gone" test ! -e "$cache/config.lock"
mkdir -p "$cache/refs/remotes/origin" && touch "$cache/refs/remotes/origin/main.lock"
touch "$W/work/nodes/.keep2" && C7=$(push_commit "after a lock")
run 0 "stale ref lock (refs/remotes/origin/main.lock): recovers" apply
check "stale ref lock gone and the new commit applied" test ! -e "$cache/refs/remotes/origin/main.lock" -a "$(st lastAppliedRevision)" = "main@sha1:$C7"
echo garbage >"$cache/HEAD"
run 0 "garbage in the cache's HEAD: recovers" apply
check "HEAD is valid again" grep -q '^ref: refs/' "$cache/HEAD"
for p in "$cache"/objects/pack/*.pack; do truncate -s 64 "$p"; done
run 0 "truncated packs in the cache: recovers" apply
check "the rebuilt cache passes git fsck" git --git-dir="$cache" fsck --no-progress --no-dangling 2>/dev/null
check "still main@sha1:<commit> after the rebuilds" test "$(st lastAppliedRevision)" = "main@sha1:$C7"

# another bramble holding the cache: wait for it within the timeout, else fail
# (the holder keeps the lock until the test opens a gate: no race on a loaded machine)
flock "$W/out/state/git-cache.lock" sh -c "while [ ! -e '$W/lock-gate' ]; do sleep 0.05; done" &
lock_pid=$!
wait_for 10 sh -c "! flock -n '$W/out/state/git-cache.lock' true"
run 1 "a cache locked by another process past the timeout fails" apply --set source.timeout=1s
contains "$W/last.err" "locked by another bramble process" "the error says the cache is in use"
t0=$(date +%s%N)
(sleep 1.5 && touch "$W/lock-gate") &
run 0 "a cache locked by another process: the fetch waits for it" apply --set source.timeout=10s
check "the fetch waited for the lock" elapsed_ok "$t0" 1 9
wait "$lock_pid"

# a blob over the loader's size limit is reported at file:1:1
head -c 9000000 /dev/zero | tr '\0' '#' >"$W/work/big.yaml"
push_commit "a big file" >/dev/null
run 1 "a manifest over the size limit is refused" validate
contains "$W/last.err" "big.yaml:1:1: file is larger than" "the oversized file is named at 1:1"
git -C "$W/work" rm -q big.yaml
C8=$(push_commit "without the big file")

# refs: missing, tag, commit id
before=$(snapshot "$W/out")
run 1 "a ref that does not exist fails" apply --set source.ref=nope
contains "$W/last.err" 'ref "nope" not found in git://127.0.0.1:' "the error names the ref and the remote"
contains "$W/last.err" "expected a branch, tag or commit id" "the error says what was expected"
check "outputs unchanged for a missing ref" test "$before" = "$(snapshot "$W/out")"
git -C "$W/work" tag v1 "$C2"
git -C "$W/work" tag -a v2 -m "release 2" "$C4"
git -C "$W/work" push -q origin v1 v2 2>/dev/null
run 0 "a lightweight tag as ref" validate --set source.ref=v1
contains "$W/last.out" "(v1@sha1:$C2)" "the tag resolves to its commit"
run 0 "an annotated tag as ref" validate --set source.ref=v2
contains "$W/last.out" "(v2@sha1:$C4)" "the annotated tag is peeled to its commit"
run 0 "a full commit id as ref" validate --set source.ref="$C1"
contains "$W/last.out" "($C1@sha1:$C1)" "the commit id is the revision"
run 1 "a commit id that the remote does not have fails" validate --set source.ref=0123456789abcdef0123456789abcdef01234567
contains "$W/last.err" "not found" "the unknown commit is reported"
git -C "$W/work" push -q origin :refs/tags/v1 2>/dev/null
run 1 "a tag deleted on the remote is gone from the cache too (prune)" validate --set source.ref=v1

# a fetch that hangs: a server that accepts and never answers
python3 -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(16)
held = []
while True:
    held.append(s.accept()[0])' "$P_HANG" &
T_PIDS+=($!)
wait_for 5 port_open "$P_HANG"
for scheme in git http; do
	t0=$(date +%s%N)
	U=$scheme://127.0.0.1:$P_HANG/src.git run 1 "a $scheme:// fetch that hangs fails" apply --set source.timeout=3s
	check "$scheme:// hang ends at the timeout (3-6 s)" elapsed_ok "$t0" 3 6
	contains "$W/last.err" "timed out after 3 s" "$scheme:// hang: the error says it timed out"
done
# the fetch process is a fresh exec of bramble's binary (`bramble __fetch`), not a
# fork of the caller, which may have threads: seen while it hangs
"$BRAMBLE" apply --source "git://127.0.0.1:$P_HANG/src.git" --root "$R" --set dhcp.testCommand= \
	--set "$SECRETS" --set source.timeout=5s >"$W/exec.out" 2>&1 &
APPLY_PID=$!
T_PIDS+=("$APPLY_PID")
fetch_child() {
	local p
	for p in $(pgrep -P "$APPLY_PID"); do
		[ "$(tr '\0' ' ' <"/proc/$p/cmdline")" = "bramble __fetch $APPLY_PID " ] && echo "$p" && return 0
	done
	return 1
}
check "the fetch process runs as 'bramble __fetch PARENT'" wait_for 5 fetch_child
FP=$(fetch_child)
check "the fetch process is an exec of the bramble binary" test "$(readlink "/proc/$FP/exe")" = "$(readlink -f "$BRAMBLE")"
check "the fetch process has one thread" test "$(ls "/proc/$FP/task" | wc -l)" = 1
wait "$APPLY_PID"
check "the hanging fetch still ends at the timeout" grep -qF "timed out after 5 s" "$W/exec.out"
cat "$W/exec.out" >>"$ALL"
check "lastAppliedRevision kept after the hangs" test "$(st lastAppliedRevision)" = "main@sha1:$C7"
run 0 "apply works again after killed fetches" apply
check "the branch head is applied" test "$(st lastAppliedRevision)" = "main@sha1:$C8"
# the daemon, whose HTTP threads are running, fetches through the same process
"$BRAMBLE" run -v --source "$U" --root "$W/r-daemon" --image-store "$W/out/images" --set dhcp.testCommand= \
	--set "$SECRETS" --set source.ref=main --listen 127.0.0.1:0 --interval 1h >"$W/daemon.log" 2>&1 &
DPID=$!
T_PIDS+=("$DPID")
WANT=$C8
daemon_applied() {
	[ "$(ls "/proc/$DPID/task" | wc -l)" -gt 1 ] &&
		[ "$(st lastAppliedRevision "$W/r-daemon")" = "main@sha1:$WANT" ]
}
check "the daemon, with its threads running, applies the branch head" wait_for 30 daemon_applied
# The daemon keeps the blobs it read: the next fetch sends only the files whose blob changed.
NF=$(git -C "$W/git/src.git" ls-tree -r --name-only main | grep -v '^\.\|/\.' | grep -cE '\.ya?ml$')
fetches() { grep -c "the git fetch sent" "$W/daemon.log"; }
fetched() { [ "$(fetches)" -ge "$1" ]; }
contains "$W/daemon.log" "the git fetch sent $NF manifest files whole, 0 by their blob id alone" \
	"the daemon's first fetch sends all $NF files"
# ... through one fetch process, kept between passes
daemon_fetcher() {
	local p
	for p in $(pgrep -P "$DPID"); do
		[ "$(tr '\0' ' ' <"/proc/$p/cmdline")" = "bramble __fetch $DPID " ] && echo "$p" && return 0
	done
	return 1
}
FP1=$(daemon_fetcher)
check "the daemon's fetch process stays between passes" test -n "$FP1"
kill -HUP "$DPID"
check "a second pass fetches again" wait_for 30 fetched 2
contains "$W/daemon.log" "the git fetch sent 0 manifest files whole, $NF by their blob id alone" \
	"the same commit again: no file is sent, every blob is known"
check "the second pass used the same fetch process" test "$(daemon_fetcher)" = "$FP1"
kill -9 "$FP1"
kill -HUP "$DPID"
check "a killed fetch process: the next pass fetches all the same" wait_for 30 fetched 3
check "... through a new fetch process" test -n "$(daemon_fetcher)" -a "$(daemon_fetcher)" != "$FP1"
check "... whose answer was whole: the pass applied" grep -q "pass (SIGHUP): applied" "$W/daemon.log"
check "... no pass failed" test "$(grep -c "pass (SIGHUP): failed" "$W/daemon.log")" = 0
sed -i 's/ip: 10.99.0.42/ip: 10.99.0.77/' "$W/work/nodes/pi4.yaml"
WANT=$(push_commit "one node file changed")
kill -HUP "$DPID"
check "the daemon applies the commit that changed one file" wait_for 30 daemon_applied
contains "$W/daemon.log" "the git fetch sent 1 manifest files whole, $((NF - 1)) by their blob id alone" \
	"one changed file: only it is sent"
check "the changed file's content is the one applied (the node's new address exported)" \
	grep -qF 10.99.0.77 "$W/r-daemon/exports/bramble.exports"
check "an unchanged file's kept blob applied as before (pi5's address)" \
	grep -qF 10.99.0.44 "$W/r-daemon/exports/bramble.exports"
stop_pid "$DPID"
cat "$W/daemon.log" >>"$ALL"

# manifests under a subdirectory; hidden entries and symlinks are skipped
mkdir -p "$W/sub/manifests/.hidden"
cp -r "$SRC/manifests/examples/." "$W/sub/manifests/"
example_secrets "$W/sub/manifests"
echo "not a manifest" >"$W/sub/README.md"
echo "{{{ not yaml" >"$W/sub/manifests/.hidden/broken.yaml"
ln -s cluster.yaml "$W/sub/manifests/link.yaml"
git -C "$W/sub" init -q -b main && git -C "$W/sub" add -A && git -C "$W/sub" commit -qm sub
git clone -q --bare "$W/sub" "$W/git/sub.git"
U=file://$W/git/sub.git R=$W/r-sub run 0 "manifests under a subdirectory (--path manifests)" validate --path manifests
contains "$W/last.out" "configuration OK: 3 nodes" "the subdirectory's nodes are read; hidden and symlinked files skipped"
U=file://$W/git/sub.git R=$W/r-sub run 1 "a path that is not in the repository fails" validate --path nope
contains "$W/last.err" 'path "nope" not found' "the error names the path"

# --- 1. transports: clone into a fresh root, then follow a new commit
# follow NAME URL ARGS...
follow() {
	local name=$1 c
	U=$2 R=$W/r-$name run 0 "$name: clone and apply" apply "${@:3}"
	check "$name: the branch head is applied" test "$(st lastAppliedRevision "$W/r-$name")" = "main@sha1:$(head_commit)"
	echo "# $name" >>"$W/work/cluster.yaml"
	c=$(push_commit "follow over $name")
	U=$2 R=$W/r-$name run 0 "$name: apply after a new commit" apply "${@:3}"
	check "$name: the new commit is applied" test "$(st lastAppliedRevision "$W/r-$name")" = "main@sha1:$c"
}
follow file "file://$W/git/src.git"
follow gitd "$GITD"

mkdir -p "$W/www/cgi-bin"
cat >"$W/www/cgi-bin/git" <<EOF
#!/bin/sh
export GIT_PROJECT_ROOT=$W/git GIT_HTTP_EXPORT_ALL=1
export GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=safe.directory GIT_CONFIG_VALUE_0='*'
exec /usr/lib/git-core/git-http-backend
EOF
chmod 755 "$W/www/cgi-bin/git"
chmod -R a+rX "$W/git"
(cd "$W/www" && exec python3 -m http.server --cgi --bind 127.0.0.1 "$P_HTTP" >"$W/cgi.log" 2>&1) &
T_PIDS+=($!)
if wait_for 5 port_open "$P_HTTP"; then
	follow http "http://127.0.0.1:$P_HTTP/cgi-bin/git/src.git"
else
	not_ok "python CGI server did not start"
fi

if command -v lighttpd >/dev/null && command -v openssl >/dev/null; then
	mkdir -p "$W/tls"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
		-subj "/CN=localhost" -addext "subjectAltName=DNS:localhost" \
		-keyout "$W/tls/key.pem" -out "$W/tls/cert.pem" 2>/dev/null
	cat "$W/tls/cert.pem" "$W/tls/key.pem" >"$W/tls/server.pem"
	echo "bramble:$TOKEN" >"$W/users"
	cat >"$W/lighttpd.conf" <<EOF
server.modules = ( "mod_alias", "mod_setenv", "mod_cgi", "mod_auth", "mod_authn_file", "mod_openssl" )
server.document-root = "$W/www"
server.bind = "127.0.0.1"
server.port = $P_HTTPS
server.errorlog = "$W/lighttpd.log"
ssl.engine = "enable"
ssl.pemfile = "$W/tls/server.pem"
alias.url = ( "/git/" => "/usr/lib/git-core/git-http-backend/",
              "/private/" => "/usr/lib/git-core/git-http-backend/" )
cgi.assign = ( "" => "" )
setenv.add-environment = ( "GIT_PROJECT_ROOT" => "$W/git", "GIT_HTTP_EXPORT_ALL" => "1" )
auth.backend = "plain"
auth.backend.plain.userfile = "$W/users"
auth.require = ( "/private/" => ( "method" => "basic", "realm" => "git", "require" => "valid-user" ) )
EOF
	lighttpd -D -f "$W/lighttpd.conf" >"$W/lighttpd.out" 2>&1 &
	T_PIDS+=($!)
	wait_for 5 port_open "$P_HTTPS" || not_ok "lighttpd did not start ($(cat "$W/lighttpd.out"))"
	HTTPS=https://localhost:$P_HTTPS
	CA=(--set source.caFile="$W/tls/cert.pem")

	U=$HTTPS/git/src.git R=$W/r-https run 1 "https: an untrusted certificate is refused" apply
	contains "$W/last.err" "certificate" "https: the error is about the certificate"
	check "https: status says FetchFailed" test "$(st ready "$W/r-https")" = FetchFailed
	check "https: status errors name the certificate" sh -c "'$BRAMBLE' status --json --root '$W/r-https' | grep -q 'certificate'"
	check "https: nothing applied with an untrusted certificate" test ! -e "$W/r-https/tftp/1234abcd" -a -z "$(st lastAppliedRevision "$W/r-https")"
	U=https://127.0.0.1:$P_HTTPS/git/src.git R=$W/r-https run 1 "https: a certificate for another name is refused" apply "${CA[@]}"
	follow https "$HTTPS/git/src.git" "${CA[@]}"

	# basic auth: the token comes from a file (with a trailing newline)
	printf '%s\n' "$TOKEN" >"$W/token"
	printf 'wrong-%s\n' "$TOKEN" >"$W/badtoken"
	U=$HTTPS/private/src.git R=$W/r-auth run 1 "https auth: no credentials fails" apply "${CA[@]}"
	contains "$W/last.err" "asks for credentials" "https auth: the error says credentials are needed"
	t0=$(date +%s%N)
	U=$HTTPS/private/src.git R=$W/r-auth run 1 "https auth: a wrong token is refused" apply "${CA[@]}" \
		--set source.username=bramble --set source.tokenFile="$W/badtoken"
	check "https auth: refused at once, no retry loop" elapsed_ok "$t0" 0 3
	contains "$W/last.err" "authentication refused by" "https auth: the error says authentication was refused"
	follow auth "$HTTPS/private/src.git" "${CA[@]}" --set source.username=bramble --set source.tokenFile="$W/token"
	U="https://bramble:$TOKEN@localhost:$P_HTTPS/private/src.git" R=$W/r-urlpw run 0 "https auth: a password inside the URL works" apply "${CA[@]}"
	U="https://bramble:$TOKEN-x@localhost:$P_HTTPS/private/src.git" R=$W/r-urlpw run 1 "https auth: a wrong password inside the URL is refused" apply "${CA[@]}"
	contains "$W/last.err" "https://bramble:***@localhost:$P_HTTPS/private/src.git" "https auth: the URL is shown without its password"
	check "https auth: the cache's config has no password" sh -c "! grep -q '$TOKEN' '$W/r-urlpw/state/git-cache/config'"
else
	echo "# lighttpd or openssl not installed: https tests skipped"
fi

# --- 4. ssh
if [ -x /usr/sbin/sshd ] && [ "$(id -u)" -eq 0 ] && command -v ssh-keygen >/dev/null; then
	S=$W/ssh
	mkdir -p "$S" /run/sshd
	for k in host client other; do ssh-keygen -q -t ed25519 -N '' -C "$k" -f "$S/$k"; done
	cp "$S/client.pub" "$S/authorized_keys"
	cat >"$S/sshd_config" <<EOF
Port $P_SSH
ListenAddress 127.0.0.1
HostKey $S/host
PidFile none
AuthorizedKeysFile $S/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
LogLevel ERROR
EOF
	/usr/sbin/sshd -D -e -f "$S/sshd_config" 2>"$W/sshd.log" &
	T_PIDS+=($!)
	wait_for 5 port_open "$P_SSH" || not_ok "sshd did not start ($(cat "$W/sshd.log"))"
	echo "[localhost]:$P_SSH $(cut -d' ' -f1,2 "$S/host.pub")" >"$S/known_hosts"
	echo "[localhost]:$P_SSH $(cut -d' ' -f1,2 "$S/other.pub")" >"$S/known_hosts.changed"
	echo "[otherhost]:$P_SSH $(cut -d' ' -f1,2 "$S/host.pub")" >"$S/known_hosts.unknown"
	cp "$S/known_hosts" "$S/known_hosts.hashed" && ssh-keygen -q -H -f "$S/known_hosts.hashed" >/dev/null 2>&1
	SSH=ssh://root@localhost:$P_SSH$W/git/src.git
	KEY=(--set source.sshKeyFile="$S/client")
	follow ssh "$SSH" "${KEY[@]}" --set source.knownHostsFile="$S/known_hosts"
	check "ssh: the known_hosts file was hashed" grep -q '^|1|' "$S/known_hosts.hashed"
	U=$SSH R=$W/r-ssh run 0 "ssh: a hashed known_hosts entry is accepted" apply "${KEY[@]}" --set source.knownHostsFile="$S/known_hosts.hashed"
	U=$SSH R=$W/r-ssh2 run 1 "ssh: no known_hosts file: refused" apply "${KEY[@]}"
	contains "$W/last.err" "cannot be verified; set source.knownHostsFile" "ssh: the error says how to trust the host"
	U=$SSH R=$W/r-ssh2 run 1 "ssh: a host not in known_hosts is refused" apply "${KEY[@]}" --set source.knownHostsFile="$S/known_hosts.unknown"
	contains "$W/last.err" "is not in $S/known_hosts.unknown" "ssh: the error says the host is unknown"
	U=$SSH R=$W/r-ssh2 run 1 "ssh: a changed host key is refused" apply "${KEY[@]}" --set source.knownHostsFile="$S/known_hosts.changed"
	contains "$W/last.err" "does not match" "ssh: the error says the key does not match"
	check "ssh: nothing applied with an untrusted host" test ! -e "$W/r-ssh2/tftp/1234abcd"
	t0=$(date +%s%N)
	U=$SSH R=$W/r-ssh2 run 1 "ssh: a key the server does not accept is refused" apply --set source.sshKeyFile="$S/other" --set source.knownHostsFile="$S/known_hosts"
	check "ssh: refused at once, no retry loop" elapsed_ok "$t0" 0 3
	contains "$W/last.err" "authentication refused by ssh://root@localhost:$P_SSH" "ssh: the error says authentication was refused"
else
	echo "# sshd not installed (openssh-server) or not root: ssh tests skipped"
fi

# --- secrets never leave their files
check "the token never appears in any output" sh -c "! grep -qF -- '$TOKEN' '$ALL'"
check "the token never appears in the state directories" sh -c "! grep -rqF -- '$TOKEN' '$W/out/state' $(ls -d "$W"/r-*/state 2>/dev/null | tr '\n' ' ')"
done_testing
