/*
 * fuzz_seal: arbitrary bytes as state/seal, read by seal_read() (a cache:
 * anything it cannot read whole is "no seal", and the pass runs in full).
 * The bytes are written to the file "seal" of a scratch state directory
 * made once (on /dev/shm: fuzz_scratch.h); a seal read is checked:
 * every entry names a known root and kind, and a path.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "fsutil.h"
#include "fuzz_scratch.h"
#include "seal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int state_dir(void)
{
	static int fd = -1;
	char dir[128];

	if (fd < 0)
		fd = fuzz_scratch_dir("seal", dir, sizeof(dir));
	return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct seal s;
	size_t i;
	int dfd = state_dir(), fd, r;

	if (dfd < 0)
		return 0;
	fd = openat(dfd, SEAL_FILE, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return 0;
	r = write_all(fd, data, size);
	close(fd);
	if (r < 0)
		return 0;
	if (seal_read(dfd, &s, NULL) == 1) {
		for (i = 0; i < s.n_entries; i++) {
			const struct seal_entry *e = &s.entries[i];

			if ((e->root >= ROOT_COUNT && e->root != SEAL_ABSPATH) ||
			    (e->kind != 'S' && e->kind != 'D') || !e->path)
				abort();
		}
		seal_release(&s);
	}
	return 0;
}
