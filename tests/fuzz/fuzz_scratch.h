/*
 * fuzz_scratch: the scratch directory a fuzz target writes into, made once
 * per process on /dev/shm (tmpfs; /tmp when there is none), so that an
 * execution costs no disk I/O, and removed with all it holds at exit.
 */
#ifndef BRAMBLE_FUZZ_SCRATCH_H
#define BRAMBLE_FUZZ_SCRATCH_H

#include <stddef.h>
#include <stdint.h>

/*
 * Make "bramble-fuzz-<name>.<pid>.XXXXXX" (its path in path, size bytes);
 * returns a descriptor of it, or -1.  One per process.  Those of the same
 * target whose process is gone (killed) are removed first.
 */
int fuzz_scratch_dir(const char *name, char *path, size_t size);

/* Write name in dfd with len bytes of data, or remove it (data NULL); 0 or -1. */
int fuzz_scratch_put(int dfd, const char *name, const uint8_t *data, size_t len);

#endif
