# A boot sees one revision, on the wire (real dnsmasq in namespaces, `bramble
# run` following its log, a simulated Pi 4 fetching its boot files over
# TFTP): a change that arrives while the Pi is between config.txt and its
# kernel waits until the kernel is sent, then the boot tree switches; and a
# Pi that stops mid-boot holds the switch for boot.deferMax only.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/bootwatch_env.sh"
bootwatch_up
# A boot sees one revision: a change that arrives while the Pi is between
# config.txt and its kernel waits until the kernel is sent, then switches.
gen() { readlink "$out/tftp/1234abcd"; }
fetch_to() { pi_get 10.99.0.42 "1234abcd/$1" && cp "$W/fetched" "$2"; }
boots=0
pi_dhcp "$KNOWN_MAC" 1234abcd
fetch_to config.txt "$W/config.a"
fetch_to start4.elf "$W/start4.a"
gen_a=$(gen)
check "straddle: the node has a boot tree generation" test -n "$gen_a"
python3 - "$repo/nodes/pi4.yaml" <<'PY'
import sys
p = sys.argv[1]; s = open(p).read()
open(p, "w").write(s.replace("  profiles: [base, k3s]\n", "  profiles: [base, k3s]\n  boot: {configTxt: [gpu_mem=16]}\n", 1))
PY
expect_rc 0 "straddle: the change validates" b validate
check "straddle: the new boot is seen, at its firmware" \
	within 10 status_has "$KNOWN.get('stage')=='firmware' and $KNOWN.get('boots')==$((boots + 1))"
kill -HUP "$BR_PID"
check "straddle: the switch waits while the node boots" \
	wait_for 10 grep -q 'node pi4-a (1234abcd) is booting: its switch to the new revision waits' "$W/run.log"
check "straddle: the boot tree is still the old generation" test "$(gen)" = "$gen_a"
check "straddle: /status says why the node is not ready" \
	status_has "[n for n in d['nodes'] if n['serial']=='1234abcd'][0]['message'].endswith('the switch to the new revision waits: the node is booting')"
check "straddle: the Ready condition says the switch is deferred" \
	within 5 status_has "[c for c in d['conditions'] if c['type']=='Ready'][0]['reason']=='SwitchDeferred'"
fetch_to config.txt "$W/config.b"
fetch_to cmdline.txt "$W/cmdline.b"
check "straddle: the rest of the boot reads the old config.txt" cmp -s "$W/config.a" "$W/config.b"
fetch_to kernel8.img "$W/kernel.b"
check "straddle: once the kernel is sent, the next pass switches" wait_for 15 sh -c "test \"\$(readlink '$out/tftp/1234abcd')\" != '$gen_a'"
contains "$W/run.log" "node pi4-a (1234abcd): its boot is over, switching to the new revision" \
	"straddle: the daemon says the boot is over"
fetch_to config.txt "$W/config.c"
contains "$W/config.c" "gpu_mem=16" "straddle: the next boot reads the new config.txt"
check "straddle: the node is ready again" within 10 status_has "[n for n in d['nodes'] if n['serial']=='1234abcd'][0]['ready']"

# ... bounded: a Pi that stops mid-boot holds the switch for boot.deferMax only
stop_pid "$BR_PID"
check "bound: the daemon starts with boot.deferMax=3s" bw_daemon_start --set boot.deferMax=3s
pi_dhcp "$KNOWN_MAC" 1234abcd
fetch_to config.txt "$W/config.d"
gen_c=$(gen)
sed -i 's/gpu_mem=16/gpu_mem=32/' "$repo/nodes/pi4.yaml"
within 10 status_has "$KNOWN.get('stage')=='config'"
kill -HUP "$BR_PID"
check "bound: the switch waits" wait_for 10 grep -q 'node pi4-a (1234abcd) is booting' "$W/run.log"
check "bound: after 3 s it switches anyway, and says so" \
	wait_for 15 grep -q 'node pi4-a (1234abcd) is still booting after 3s: switching to the new revision anyway' "$W/run.log"
check "bound: the new generation is in place" sh -c "test \"\$(readlink '$out/tftp/1234abcd')\" != '$gen_c'"

# ... and off: boot.deferMax=0 switches at once, even mid-boot
stop_pid "$BR_PID"
check "off: the daemon starts with boot.deferMax=0" bw_daemon_start --set boot.deferMax=0
pi_dhcp "$KNOWN_MAC" 1234abcd
fetch_to config.txt "$W/config.e"
gen_e=$(gen)
sed -i 's/gpu_mem=32/gpu_mem=64/' "$repo/nodes/pi4.yaml"
within 10 status_has "$KNOWN.get('stage')=='config'"
kill -HUP "$BR_PID"
check "off: the switch does not wait" wait_for 15 sh -c "test \"\$(readlink '$out/tftp/1234abcd')\" != '$gen_e'"
check "off: nothing was deferred" sh -c "! grep -q 'is booting' '$W/run.log'"

stop_pid "$BR_PID"
stop_pid "$DNS_PID"
if [ "$T_FAIL" -ne 0 ]; then
	echo "# bramble run log:"; tail -20 "$W/run.log" | sed 's/^/    | /'
	echo "# dnsmasq log:"; tail -20 "$out/dnsmasq/dnsmasq.log" | sed 's/^/    | /'
fi
done_testing
