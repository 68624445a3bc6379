#!/usr/bin/env python3
"""Compare two directory trees entry by entry, without following symlinks.

Usage: compare_trees.py [options] EXPECTED ACTUAL

Prints one line per difference and exits 1 when there is any, 0 otherwise.
Fields (--fields, comma-separated): type, mode, uid, gid, size, digest
(SHA-256 of regular files), target (of symlinks), mtime (seconds), mtime_ns,
rdev, links (hard-link groups: the set of names that share an inode), xattrs
(user.*, trusted.*, security.*, system.posix_acl_*; byte for byte).

It also has a helper for the tests that build ext4 images with mkfs.ext4 -d,
which keeps timestamps in whole seconds only:
  compare_trees.py --debugfs-times TREE   prints debugfs "sif" commands that
  put the times of every entry of TREE, to the nanosecond, into the image.
"""
import argparse
import hashlib
import os
import stat
import sys

ALL_FIELDS = "type,mode,uid,gid,size,digest,target,mtime,mtime_ns,rdev,links,xattrs"
XATTR_PREFIXES = ("user.", "trusted.", "security.", "system.posix_acl_")


def kind(st):
    m = st.st_mode
    for test, name in ((stat.S_ISREG, "file"), (stat.S_ISDIR, "dir"), (stat.S_ISLNK, "symlink"),
                       (stat.S_ISFIFO, "fifo"), (stat.S_ISCHR, "chr"), (stat.S_ISBLK, "blk"),
                       (stat.S_ISSOCK, "sock")):
        if test(m):
            return name
    return "unknown"


def digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                break
            h.update(chunk)
    return h.hexdigest()


def xattrs(path):
    out = {}
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return out
    for name in names:
        if name.startswith(XATTR_PREFIXES):
            out[name] = os.getxattr(path, name, follow_symlinks=False).hex()
    return out


def walk(root, ignore, skip_special):
    """Map relative path ('.' for the root) to its lstat result."""
    entries = {".": os.lstat(root)}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            if rel in ignore or any(rel.startswith(i + "/") for i in ignore):
                continue
            st = os.lstat(full)
            if skip_special and kind(st) in ("fifo", "chr", "blk", "sock"):
                continue
            entries[rel] = st
    return entries


def link_groups(entries):
    by_ino = {}
    for rel, st in entries.items():
        if not stat.S_ISDIR(st.st_mode) and st.st_nlink > 1:
            by_ino.setdefault(st.st_ino, []).append(rel)
    groups = {}
    for names in by_ino.values():
        for rel in names:
            groups[rel] = tuple(sorted(names))
    return groups


def record(root, rel, st, fields, mode_mask, groups):
    path = os.path.join(root, rel)
    r = {}
    if stat.S_ISLNK(st.st_mode) and fields.symlink is not None:
        fields = fields.symlink
    if "type" in fields:
        r["type"] = kind(st)
    if "mode" in fields and not stat.S_ISLNK(st.st_mode):
        r["mode"] = oct(stat.S_IMODE(st.st_mode) & mode_mask)
    if "uid" in fields:
        r["uid"] = st.st_uid
    if "gid" in fields:
        r["gid"] = st.st_gid
    if "size" in fields and not stat.S_ISDIR(st.st_mode):
        r["size"] = st.st_size
    if "digest" in fields and stat.S_ISREG(st.st_mode):
        r["digest"] = digest(path)
    if "target" in fields and stat.S_ISLNK(st.st_mode):
        r["target"] = os.readlink(path)
    if "mtime" in fields:
        r["mtime"] = st.st_mtime_ns // 1000000000
    if "mtime_ns" in fields:
        r["mtime_ns"] = st.st_mtime_ns
    if "rdev" in fields and (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)):
        r["rdev"] = (os.major(st.st_rdev), os.minor(st.st_rdev))
    if "links" in fields and rel in groups:
        r["links"] = groups[rel]
    if "xattrs" in fields:
        r["xattrs"] = xattrs(path)
    return r


class Fields(set):
    symlink = None


def parse_fields(text):
    fields = Fields(text.split(","))
    unknown = fields - set(ALL_FIELDS.split(","))
    if unknown:
        sys.exit("compare_trees: unknown fields: " + ",".join(sorted(unknown)))
    return fields


def padded(expected, actual, rel, size):
    """debugfs 1.47.0 dumps an inline-data file as its whole inline area."""
    a, b = os.path.join(expected, rel), os.path.join(actual, rel)
    if not (os.path.isfile(a) and os.path.isfile(b)) or os.path.islink(a) or os.path.islink(b):
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        da, db = fa.read(size + 1), fb.read(size + 1)
    return len(da) == size and len(db) < size and da.startswith(db)


def compare(args):
    fields = parse_fields(args.fields)
    if args.symlink_fields is not None:
        fields.symlink = parse_fields(args.symlink_fields)
    ignore = set(args.ignore)
    a = walk(args.expected, ignore, args.skip_special)
    b = walk(args.actual, ignore, args.skip_special)
    if args.no_root:
        del a["."], b["."]
    ga, gb = link_groups(a), link_groups(b)
    diffs = 0
    for rel in sorted(set(a) | set(b)):
        if rel not in b:
            print(f"missing in {args.actual}: {rel}")
            diffs += 1
            continue
        if rel not in a:
            print(f"unexpected in {args.actual}: {rel}")
            diffs += 1
            continue
        ra = record(args.expected, rel, a[rel], fields, args.mode_mask, ga)
        rb = record(args.actual, rel, b[rel], fields, args.mode_mask, gb)
        if args.allow_padded and padded(args.expected, args.actual, rel, args.allow_padded):
            for key in ("size", "digest"):
                ra.pop(key, None)
                rb.pop(key, None)
        for key in sorted(set(ra) | set(rb)):
            if ra.get(key) != rb.get(key):
                print(f"{rel}: {key}: expected {ra.get(key)!r}, got {rb.get(key)!r}")
                diffs += 1
    print(f"compare_trees: {len(a)} entries compared, {diffs} differences")
    return 1 if diffs else 0


def debugfs_times(tree):
    """debugfs commands that set mtime and atime to the nanosecond."""
    for rel, st in walk(tree, set(), False).items():
        path = "/" if rel == "." else "/" + rel
        if '"' in path or "\n" in path:
            continue
        for field, ns in (("mtime", st.st_mtime_ns), ("atime", st.st_atime_ns)):
            sec, nsec = divmod(ns, 1000000000)
            extra = (nsec << 2) | ((sec >> 32) & 3)
            print(f'sif "{path}" {field} @{sec}')
            print(f'sif "{path}" {field}_extra {extra}')
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("expected", nargs="?")
    p.add_argument("actual", nargs="?")
    p.add_argument("--fields", default=ALL_FIELDS)
    p.add_argument("--mode-mask", type=lambda s: int(s, 8), default=0o7777)
    p.add_argument("--ignore", action="append", default=[], help="relative path to leave out")
    p.add_argument("--skip-special", action="store_true", help="leave out FIFOs, devices, sockets")
    p.add_argument("--no-root", action="store_true", help="leave out the roots themselves")
    p.add_argument("--symlink-fields", help="fields compared for symlinks (default: --fields)")
    p.add_argument("--allow-padded", type=int, metavar="N",
                   help="accept an expected file of exactly N bytes that starts with the actual"
                        " content (debugfs pads inline-data files to 60 bytes)")
    p.add_argument("--debugfs-times", metavar="TREE")
    args = p.parse_args()
    if args.debugfs_times:
        return debugfs_times(args.debugfs_times)
    if not args.expected or not args.actual:
        p.error("EXPECTED and ACTUAL are required")
    return compare(args)


if __name__ == "__main__":
    sys.exit(main())
