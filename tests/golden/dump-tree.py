#!/usr/bin/env python3
"""Print bramble's output tree (everything under ROOT but state/ and images/)
as one stable text: each path with its type and mode, file contents inline,
hard links named by their image source, ROOT replaced by @ROOT@ and the
digest in generation directory names by @GEN@."""
import os
import re
import sys

root = os.path.abspath(sys.argv[1])
images = os.path.join(root, "images")
src_by_inode = {}
for dirpath, dirnames, filenames in os.walk(images):
    for f in filenames:
        p = os.path.join(dirpath, f)
        st = os.lstat(p)
        src_by_inode[(st.st_dev, st.st_ino)] = os.path.relpath(p, root)

out = []
for dirpath, dirnames, filenames in os.walk(root):
    rel_dir = os.path.relpath(dirpath, root)
    if rel_dir.split(os.sep)[0] in ("state", "images"):
        dirnames[:] = []
        continue
    dirnames.sort()
    for name in sorted(dirnames + filenames):
        p = os.path.join(dirpath, name)
        rel = os.path.normpath(os.path.join(rel_dir, name))
        if rel.split(os.sep)[0] in ("state", "images"):
            continue
        st = os.lstat(p)
        mode = oct(st.st_mode & 0o7777)[2:]
        if os.path.islink(p):
            out.append("%s -> %s" % (rel, os.readlink(p)))
        elif os.path.isdir(p):
            out.append("%s/ (dir %s)" % (rel, mode))
        elif (st.st_dev, st.st_ino) in src_by_inode:
            out.append("%s (hard link to %s, %s)" % (rel, src_by_inode[(st.st_dev, st.st_ino)], mode))
        else:
            with open(p, "rb") as fh:
                data = fh.read().decode("utf-8", "replace").replace(root, "@ROOT@")
            out.append("%s (file %s)" % (rel, mode))
            out.extend("  | " + line for line in data.splitlines())
# Generation names hash the content, which holds ROOT: name them by node only.
text = "\n".join(out)
print(re.sub(r"/\.([0-9a-f-]+)\.[0-9a-f]{16}", r"/.\1.@GEN@", re.sub(r"-> \.([0-9a-f-]+)\.[0-9a-f]{16}", r"-> .\1.@GEN@", text)))
