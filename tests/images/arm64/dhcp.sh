#!/bin/sh
# udhcpc's script in the arm64 test initramfs: configure eth0 from the lease
# and keep its fields in /tmp/lease, for /init to read
[ "$1" = bound ] || exit 0
ip addr add "$ip/${mask:-24}" dev "$interface"
for v in ip serverid siaddr tftp opt43 hostname; do
	eval "printf \"%s='%s'\n\" $v \"\$$v\""
done >/tmp/lease
