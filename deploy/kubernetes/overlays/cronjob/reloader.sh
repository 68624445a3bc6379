#!/bin/sh
# The server pod's reloader (overlays/cronjob): `bramble apply` runs in a Job's
# pod and cannot signal dnsmasq or ganesha, which run in this pod; its reload
# commands leave a request file in $REQUESTS instead, and this loop, which
# shares the servers' process namespace, signals them by their pid files in
# $RUN: SIGHUP to reload, SIGTERM to restart (the kubelet starts the
# container again).  A request is taken (removed) before the signal, so one
# made meanwhile is kept for the next round; a restart stands for a reload.
# A server that is not running yet reads everything when it starts.
set -u
REQUESTS=${REQUESTS:-/srv/bramble/requests}
RUN=${RUN:-/run/bramble}
EVERY=${EVERY:-2}

# signal SERVER SIGNAL: send SIGNAL to the server named by $RUN/SERVER.pid.
signal() {
	pid=$(cat "$RUN/$1.pid" 2>/dev/null) || pid=
	case $pid in
	'' | *[!0-9]*)
		echo "reloader: $1 is not running: it reads its files when it starts" >&2
		return 0
		;;
	esac
	if kill -"$2" "$pid"; then
		echo "reloader: sent SIG$2 to $1 (pid $pid)" >&2
	else
		echo "reloader: $1 (pid $pid) is gone: it reads its files when it starts" >&2
	fi
}

# take NAME: whether a request NAME was there (it is removed).
take() {
	[ -e "$REQUESTS/$1" ] && rm -f "$REQUESTS/$1"
}

mkdir -p "$REQUESTS"
echo "reloader: watching $REQUESTS every ${EVERY}s" >&2
while :; do
	for server in dnsmasq ganesha; do
		if take "$server-restart"; then
			take "$server-reload" || :
			signal "$server" TERM
		elif take "$server-reload"; then
			signal "$server" HUP
		fi
	done
	sleep "$EVERY"
done
