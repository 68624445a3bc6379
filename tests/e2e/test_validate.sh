#!/bin/bash
# `validate` means appliable: it renders the revision in memory as plan does,
# so every error plan finds at render time validate finds too, at the same
# file:line:col; it never makes or changes a file under the output root; an
# Image not in the store yet is a note, not an error; --offline (or no image
# store) reads neither the store nor the secret files, and says so once.
. "$(dirname "$0")/lib.sh"
out=$W/out
base=$SRC/tests/bad/base
sh "$SRC/scripts/make-demo-image.sh" "$out/images/demo-os" >/dev/null
# An image without bootcode.bin (a Pi 3 cannot netboot from it), one without root/.
cp -a "$out/images/demo-os" "$out/images/no-bootcode"
rm "$out/images/no-bootcode/boot/bootcode.bin"
mkdir -p "$out/images/no-root"
cp -a "$out/images/demo-os/boot" "$out/images/no-root/boot"
mkdir -p "$W/secrets"
(umask 077 && printf 'short\n' >"$W/secrets/short-psk" && printf 'no-hash\n' >"$W/secrets/bad-hash")
S="paths.secretsDir=$W/secrets"
v() { "$BRAMBLE" validate --source "$W/repo" --root "$out" --set dhcp.testCommand= --set "$S" "$@"; }
p() { "$BRAMBLE" plan --source "$W/repo" --root "$out" --set dhcp.testCommand= --set "$S" "$@"; }

# new_repo NAME YAML: the base repository plus one file holding YAML.
new_repo() {
	rm -rf "$W/repo"
	cp -r "$base" "$W/repo"
	printf '%s\n' "$2" >"$W/repo/$1"
}

# render_case NAME POS MESSAGE: validate exits 1 with POS and MESSAGE, as plan
# does, and the output root is what it was.
render_case() {
	local name=$1 pos=$2 msg=$3 before
	before=$(snapshot "$out"; find "$out" -printf '%p %T@\n' | sort)
	expect_rc 1 "$name: validate refuses it" v
	if grep -F -- "$pos: " "$W/last.err" | grep -qF -- "$msg"; then ok "$name: validate reports $pos"; else
		not_ok "$name: validate: expected \"$pos: ...$msg\""; sed 's/^/    | /' "$W/last.err" | head; fi
	lacks "$W/last.out" "configuration OK" "$name: validate does not say OK"
	check "$name: validate changed nothing under the output root" \
		test "$(snapshot "$out"; find "$out" -printf '%p %T@\n' | sort)" = "$before"
	expect_rc 1 "$name: plan refuses it too" p
	if grep -F -- "$pos: " "$W/last.err" | grep -qF -- "$msg"; then ok "$name: plan reports $pos"; else
		not_ok "$name: plan: expected \"$pos: ...$msg\""; sed 's/^/    | /' "$W/last.err" | head; fi
}

node() { # node NAME SERIAL IP EXTRA-SPEC-LINES
	printf 'apiVersion: bramble/v1alpha1\nkind: Node\nmetadata:\n  name: %s\nspec:\n  serial: %s\n  mac: dc:a6:32:01:37:%s\n  ip: 10.99.0.%s\n%s' \
		"$1" "$2" "${3}" "$3" "$4"
}

new_repo pi3.yaml "$(printf 'apiVersion: bramble/v1alpha1\nkind: Image\nmetadata:\n  name: bare\nspec:\n  path: no-bootcode\n---\n'; node pi3-a 3456cdef 60 '  model: pi3
  image: bare
')"
render_case "pi3 without bootcode.bin" "pi3.yaml:11:9" "has no boot/bootcode.bin"

new_repo img.yaml "$(printf 'apiVersion: bramble/v1alpha1\nkind: Image\nmetadata:\n  name: gone\nspec:\n  path: not-there\n---\n'; node pi-x 3456cdef 61 '  image: gone
')"
render_case "image directory missing from the store" "img.yaml:4:9" "no directory \"not-there/boot\""

new_repo img.yaml "$(printf 'apiVersion: bramble/v1alpha1\nkind: Image\nmetadata:\n  name: half\nspec:\n  path: no-root\n---\n'; node pi-x 3456cdef 62 '  image: half
')"
render_case "image without root/" "img.yaml:4:9" "expected the root file system there"

new_repo wifi.yaml "$(node pi-w 3456cdef 63 "  firstBoot:
    wifi:
      ssid: lab
      country: GB
      passphrase: {file: $W/secrets/missing-psk}
")"
render_case "wifi secret file missing" "wifi.yaml:13:19" "cannot read the secret file"

sed -i 's/missing-psk/short-psk/' "$W/repo/wifi.yaml"
render_case "wifi secret too short" "wifi.yaml:13:19" "not a valid value in the secret file"

new_repo user.yaml "$(node pi-u 3456cdef 64 "  firstBoot:
    users:
      - name: ops
        passwordHash: {file: $W/secrets/bad-hash}
")"
render_case "password hash secret not a hash" "user.yaml:12:23" "not a valid value in the secret file"

# dnsmasq --test refusing the rendered configuration (a stand-in that refuses).
cat >"$W/refuse-dnsmasq" <<'EOF'
#!/bin/sh
echo "dnsmasq: bad dhcp-range at line 5 of the test file" >&2
exit 1
EOF
chmod 755 "$W/refuse-dnsmasq"
new_repo extra.yaml "# nothing more"
before=$(snapshot "$out")
expect_rc 1 "dnsmasq --test refusing: validate refuses it" v --set dhcp.testCommand="$W/refuse-dnsmasq"
contains "$W/last.err" "bad dhcp-range at line 5" "dnsmasq --test refusing: validate shows what dnsmasq said"
check "dnsmasq --test refusing: no scratch file left in TMPDIR" \
	test -z "$(find "${TMPDIR:-/tmp}" -maxdepth 1 -name 'bramble-validate.*' -newer "$W/refuse-dnsmasq" 2>/dev/null)"
check "dnsmasq --test refusing: the state directory is not written" test ! -e "$out/state"
expect_rc 0 "dnsmasq --test accepting: validate says OK" v --set dhcp.testCommand=true
check "the output root is unchanged after both" test "$(snapshot "$out")" = "$before"

# The JSON document of a render-time error: valid false, the position.
new_repo wifi.yaml "$(node pi-w 3456cdef 63 "  firstBoot:
    wifi:
      ssid: lab
      country: GB
      passphrase: {file: $W/secrets/missing-psk}
")"
expect_rc 1 "--json of a render-time error exits 1" v --json
check "--json: valid false, the error with its position" python3 -c "
import json, sys
d = json.load(open(sys.argv[1]))
assert d['schema'] == 'bramble/validate/v1' and d['valid'] is False, d
e = [x for x in d['errors'] if x['file'] == 'wifi.yaml' and x['line'] == 13 and x['column'] == 19]
assert e and 'cannot read the secret file' in e[0]['message'], d
" "$W/last.out"

# --offline: neither the store nor the secrets are read; one note says so.
expect_rc 0 "--offline: a missing secret is not checked" v --offline
contains "$W/last.out" "configuration OK" "--offline: configuration OK"
check "--offline: exactly one note" test "$(grep -c 'note: ' "$W/last.out")" -eq 1
contains "$W/last.out" "note: --offline: the image store and the secret files were not read" "--offline: the note says what was not checked"

# No image store at all (a CI check on a laptop): the same, said once.
rm -rf "$W/empty"
mkdir "$W/empty"
expect_rc 0 "no image store: validate passes what it can check" \
	"$BRAMBLE" validate --source "$W/repo" --root "$W/empty" --set dhcp.testCommand= --set "$S"
contains "$W/last.out" "note: no image store at $W/empty/images" "no image store: the note names it"
check "no image store: nothing made under the output root" test -z "$(ls -A "$W/empty")"
# ... while a manifest error is still found.
printf 'apiVersion: bramble/v1alpha1\nkind: Node\nmetadata: {name: pi-q}\nspec: {serial: XYZ}\n' >"$W/repo/bad.yaml"
expect_rc 1 "no image store: a manifest error is still an error" \
	"$BRAMBLE" validate --source "$W/repo" --root "$W/empty" --set dhcp.testCommand= --set "$S" --offline
contains "$W/last.err" "bad.yaml:4:" "no image store: with its position"

# A url Image not fetched yet: a note at the Image's position, not an error.
head -c 4096 /dev/urandom >"$W/some.img"
new_repo url.yaml "$(printf 'apiVersion: bramble/v1alpha1\nkind: Image\nmetadata:\n  name: later\nspec:\n  url: file://%s\n---\n' "$W/some.img"; node pi-l 3456cdef 65 '  model: pi3
  image: later
')"
expect_rc 0 "url image not in the store: validate passes" v
contains "$W/last.out" "url.yaml:4:9: note: image \"later\" is not in the store yet: its files are checked when it is fetched" \
	"url image not in the store: the note with its position"
check "url image not in the store: nothing downloaded" test ! -e "$out/images/sha256"
expect_rc 0 "url image: --json has the note" v --json
check "--json: notes [{file, line, column, message}]" python3 -c "
import json, sys
d = json.load(open(sys.argv[1]))
assert d['valid'] is True and d['notes'][0]['file'] == 'url.yaml' and d['notes'][0]['line'] == 4, d
" "$W/last.out"
check "the output root has no state directory after every validate" test ! -e "$out/state"
done_testing
