#!/bin/sh
# A stand-in for the reload commands (dhcp.reloadCommand, dhcp.restartCommand,
# nfs.reloadCommand) in the fault sweep: it appends to LOG what the server
# would see now, so the sweep can check that the last reload of each kind
# saw the final files.  Usage: reload.sh KIND OUT LOG
kind=$1 out=$2 log=$3
hosts=$(ls "$out/dnsmasq/hosts.d" 2>/dev/null | tr '\n' ',')
case $kind in
nfs) echo "nfs $(cat "$out"/exports/* 2>/dev/null | sha256sum | cut -c1-16)" >>"$log" ;;
dhcp-restart) echo "dhcp-restart $(cat "$out/dnsmasq/bramble.conf" 2>/dev/null | sha256sum | cut -c1-16) ${hosts:--}" >>"$log" ;;
dhcp-reload) echo "dhcp-reload - ${hosts:--}" >>"$log" ;;
esac
