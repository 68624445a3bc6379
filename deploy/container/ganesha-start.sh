#!/bin/sh
# Start nfs-ganesha once bramble has written its exports: rpcbind first (NFSv3
# registers with it), then ganesha in the foreground with its pid file where
# bramble's reload command finds it.
set -eu
while [ ! -s /srv/bramble/exports/bramble-ganesha.conf ]; do
	echo "ganesha-start: waiting for bramble's exports" >&2
	sleep 5
done
mkdir -p /run/bramble /var/lib/nfs/ganesha
rpcbind -f -w &
exec ganesha.nfsd -F -L /dev/stderr -f /etc/ganesha/ganesha.conf -p /run/bramble/ganesha.pid
