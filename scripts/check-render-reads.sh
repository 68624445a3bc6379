#!/bin/sh
# Check that the renderers read no file but through the render-time read API
# (reconcilers/render_read.c): an input read any other way is one the seal
# does not watch, and the fast path would skip a change of it (seal.h).
#
# Usage: check-render-reads.sh SOURCE_DIR OBJECT...  (the objects of the
# bramble_renderers library; CTest's render_reads test passes them).  The
# check reads what each object calls, so a read through a macro, an inline
# wrapper or a helper of another library is found as well; each call found
# is named with the source lines that mention it.
set -eu
src=$1
shift
# CTest passes the objects as one ;-separated list.
objs=$(printf '%s;' "$@")
IFS=';'
set -f
set -- $objs
set +f
unset IFS
# System calls and libc functions that read the file system, and the readers
# of common/ (fsutil.h, dirwalk.h) and of the image store (imgstore.h).
deny='open|open64|openat|openat64|__open_2|__open64_2|__openat_2|__openat64_2|creat|creat64|fopen|fopen64|freopen|fdopen|opendir|fdopendir|readdir|readdir64|scandir|scandirat|nftw|ftw|stat|stat64|lstat|lstat64|fstat|fstat64|fstatat|fstatat64|newfstatat|statx|__xstat|__lxstat|__fxstatat|access|faccessat|euidaccess|readlink|readlinkat|__readlink_chk|__readlinkat_chk|realpath|read|pread|pread64|__read_chk|__pread_chk|mmap|mmap64|getline|getdelim|fgets|fread|file_read|file_read_at|file_read_beneath|file_check_regular|dir_open_beneath|parent_open_beneath|dir_walk|imgstore_[a-z_]*'
bad=0
for o in "$@"; do
	base=$(basename "$o")
	file=reconcilers/${base%.o}
	for sym in $(nm -u "$o" | awk '{print $2}' | sed 's/@.*//' | grep -Ex "$deny" || true); do
		name=$(printf '%s' "$sym" | sed 's/^__//; s/_chk$//; s/_2$//; s/64$//')
		lines=$(grep -nEw "$name[a-z0-9_]*" "$src/$file" | cut -d: -f1 | tr '\n' ' ')
		for l in ${lines:-0}; do
			echo "$file:$l: the renderer calls $sym(): read inputs through render_read_*() (reconciler.h), which records them for the seal"
		done
		bad=1
	done
done
[ $# -gt 0 ] || { echo "check-render-reads: no objects given"; exit 2; }
[ $bad -eq 0 ] && echo "check-render-reads: ok ($# renderer objects)"
exit $bad
