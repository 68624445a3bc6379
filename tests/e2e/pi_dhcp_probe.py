#!/usr/bin/env python3
"""A DHCP client that asks for an address the way a Raspberry Pi bootloader does.

Sends a DHCPDISCOVER with the options a Pi 4/5 EEPROM bootloader sends
(NETBOOT.md section 1): option 60 "PXEClient:Arch:00000:UNDI:002001",
93 (client architecture) = 0, 94 (NII) = 1.2.1, 97 (client GUID: FourCC,
board revision, low MAC bytes, serial) and a parameter request list with
1, 3, 43, 60, 66, 67 and 128-135.  Every reply is printed as one JSON line.

With --request, the first offer that carries an address is answered with a
DHCPREQUEST and the ACK/NAK is printed as well (a full DORA exchange).

Standard library only.  Run it inside the client network namespace; it binds
UDP port 68 with SO_BINDTODEVICE, so the interface needs no address and the
MAC sent in chaddr can be any MAC (the interface's own is not needed).
  ip netns exec NS python3 pi_dhcp_probe.py --iface IF --mac dc:a6:32:00:00:01 --serial 1234abcd
Exit status: 0 when at least one reply (and, with --request, an ACK) arrived,
1 otherwise, 2 on a usage error.
"""
import argparse
import json
import os
import socket
import struct
import sys
import time

MAGIC = b"\x63\x82\x53\x63"
BOOTP = "!BBBBIHH4s4s4s4s16s64s128s"
TYPES = {1: "DISCOVER", 2: "OFFER", 3: "REQUEST", 4: "DECLINE", 5: "ACK", 6: "NAK",
         7: "RELEASE", 8: "INFORM"}
PRL = bytes([1, 3, 6, 12, 15, 28, 43, 51, 54, 58, 59, 60, 66, 67,
             128, 129, 130, 131, 132, 133, 134, 135])


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--iface", required=True, help="interface to send on (SO_BINDTODEVICE)")
    p.add_argument("--mac", required=True, help="client MAC for chaddr, aa:bb:cc:dd:ee:ff")
    p.add_argument("--serial", default="1234abcd", help="board serial (8 hex) for option 97")
    p.add_argument("--model", choices=["pi4", "pi5"], default="pi4")
    p.add_argument("--vendor", default="PXEClient:Arch:00000:UNDI:002001", help="option 60")
    p.add_argument("--no-arch", action="store_true", help="omit option 93 (as an old client)")
    p.add_argument("--timeout", type=float, default=2.0, help="seconds to wait per try")
    p.add_argument("--tries", type=int, default=3)
    p.add_argument("--first", action="store_true", help="stop after the first reply")
    p.add_argument("--request", action="store_true",
                   help="answer the first offer with an address with a DHCPREQUEST")
    a = p.parse_args()
    try:
        a.mac_bytes = bytes(int(x, 16) for x in a.mac.split(":"))
        a.serial_bytes = bytes.fromhex(a.serial.rjust(8, "0"))[-4:]
    except ValueError:
        p.error("bad --mac or --serial")
    if len(a.mac_bytes) != 6:
        p.error("--mac needs 6 bytes")
    return a


def opt(code, data):
    return bytes([code, len(data)]) + data


def client_guid(a):
    # Option 97: type 0, then 16 bytes: FourCC, board revision, the low four
    # bytes of the MAC and the low four bytes of the serial (DHCP_OPTION97).
    fourcc = b"RPi4" if a.model == "pi4" else b"RPi5"
    rev = bytes.fromhex("00c03114" if a.model == "pi4" else "00d04170")
    return b"\x00" + fourcc + rev + a.mac_bytes[2:] + a.serial_bytes


def packet(a, xid, msgtype, extra=b""):
    opts = opt(53, bytes([msgtype])) + extra + opt(55, PRL) + opt(57, struct.pack("!H", 1472))
    opts += opt(60, a.vendor.encode())
    if not a.no_arch:
        opts += opt(93, b"\x00\x00")
    opts += opt(94, b"\x01\x02\x01") + opt(97, client_guid(a)) + b"\xff"
    # flags 0x8000: broadcast the reply (the client has no address yet)
    hdr = struct.pack(BOOTP, 1, 1, 6, 0, xid, 0, 0x8000, bytes(4), bytes(4), bytes(4),
                      bytes(4), a.mac_bytes.ljust(16, b"\0"), bytes(64), bytes(128))
    return hdr + MAGIC + opts


def ip_list(b):
    return [socket.inet_ntoa(b[i:i + 4]) for i in range(0, len(b) - len(b) % 4, 4)]


def pxe_menu(o43):
    """Decode PXE vendor sub-options (RFC 4578 / PXE spec): menu item texts."""
    items, prompt, i = [], None, 0
    while i + 1 < len(o43) and o43[i] != 255:
        if o43[i] == 0:
            i += 1
            continue
        code, ln = o43[i], o43[i + 1]
        body = o43[i + 2:i + 2 + ln]
        if code == 9:  # boot menu: (type u16, len u8, text)*
            j = 0
            while j + 3 <= len(body):
                tl = body[j + 2]
                items.append(body[j + 3:j + 3 + tl].decode(errors="replace"))
                j += 3 + tl
        elif code == 10 and body:
            prompt = body[1:].decode(errors="replace")
        i += 2 + ln
    return items, prompt


def parse(data, xid, mac):
    if len(data) < 240 or data[236:240] != MAGIC:
        return None
    (op, _ht, _hl, _hops, rxid, _secs, flags, ci, yi, si, gi, ch, sname, bfile) = \
        struct.unpack(BOOTP, data[:236])
    if op != 2 or rxid != xid or ch[:6] != mac:
        return None
    o, i = {}, 240
    while i < len(data) and data[i] != 255:
        if data[i] == 0:
            i += 1
            continue
        if i + 1 >= len(data):
            break
        c, ln = data[i], data[i + 1]
        o[c] = o.get(c, b"") + data[i + 2:i + 2 + ln]  # RFC 3396 concatenation
        i += 2 + ln
    t = o.get(53, b"\0")[0]

    def s(c):
        return o[c].rstrip(b"\0").decode(errors="replace") if c in o else None

    menu, prompt = pxe_menu(o[43]) if 43 in o else ([], None)
    return {
        "type": TYPES.get(t, str(t)),
        "yiaddr": socket.inet_ntoa(yi), "siaddr": socket.inet_ntoa(si),
        "giaddr": socket.inet_ntoa(gi), "broadcast": bool(flags & 0x8000),
        "server_id": socket.inet_ntoa(o[54]) if 54 in o and len(o[54]) == 4 else None,
        "subnet_mask": socket.inet_ntoa(o[1]) if 1 in o and len(o[1]) == 4 else None,
        "router": ip_list(o[3]) if 3 in o else None,
        "dns": ip_list(o[6]) if 6 in o else None,
        "lease_time": struct.unpack("!I", o[51])[0] if 51 in o and len(o[51]) == 4 else None,
        "hostname": s(12),
        "sname": sname.rstrip(b"\0").decode(errors="replace"),
        "file": bfile.rstrip(b"\0").decode(errors="replace"),
        "opt60": s(60), "opt66": s(66), "opt67": s(67),
        "opt43_hex": o[43].hex() if 43 in o else None,
        "pxe_menu": menu, "pxe_prompt": prompt,
        "rpi_boot_in_opt43": b"Raspberry Pi Boot" in o.get(43, b""),
        "opt97_hex": o[97].hex() if 97 in o else None,
        "options": sorted(o),
    }


def main():
    a = parse_args()
    xid = struct.unpack("!I", os.urandom(4))[0]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, a.iface.encode())
        s.bind(("0.0.0.0", 68))
    except OSError as e:
        print("pi_dhcp_probe: cannot bind port 68 on %s: %s" % (a.iface, e), file=sys.stderr)
        return 1
    got = 0
    discover = packet(a, xid, 1)
    pending = None  # the DHCPREQUEST, once an offer with an address arrived
    for _ in range(a.tries):
        s.sendto(pending or discover, ("255.255.255.255", 67))
        end = time.monotonic() + a.timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                break
            s.settimeout(left)
            try:
                data, src = s.recvfrom(4096)
            except socket.timeout:
                break
            r = parse(data, xid, a.mac_bytes)
            if r is None:
                continue
            r["from"] = src[0]
            print(json.dumps(r, sort_keys=True), flush=True)
            got += 1
            if r["type"] in ("ACK", "NAK") and pending:
                return 0 if r["type"] == "ACK" else 1
            if a.request and not pending and r["type"] == "OFFER" and r["yiaddr"] != "0.0.0.0":
                extra = opt(50, socket.inet_aton(r["yiaddr"]))
                extra += opt(54, socket.inet_aton(r["server_id"] or r["from"]))
                pending = packet(a, xid, 3, extra)
                s.sendto(pending, ("255.255.255.255", 67))
                end = time.monotonic() + a.timeout
                continue
            if a.first and not a.request:
                return 0
        if got and not a.request:
            break
    if a.request:
        return 1  # no ACK
    return 0 if got else 1


if __name__ == "__main__":
    sys.exit(main())
