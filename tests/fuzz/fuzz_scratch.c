#include "fuzz_scratch.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"

static char scratch_path[128];

static void scratch_remove(void)
{
	char *slash = strrchr(scratch_path, '/');
	int dfd;

	if (!slash)
		return;
	*slash = '\0';
	dfd = open(scratch_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		(void)rm_rf_at(dfd, slash + 1);
		close(dfd);
	}
}

int fuzz_scratch_dir(const char *name, char *path, size_t size)
{
	int w = snprintf(scratch_path, sizeof(scratch_path), "%s/bramble-fuzz-%s.XXXXXX",
			 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", name);

	if (w < 0 || (size_t)w >= sizeof(scratch_path) || (size_t)w >= size ||
	    !mkdtemp(scratch_path))
		return -1;
	memcpy(path, scratch_path, (size_t)w + 1);
	if (atexit(scratch_remove) != 0) {
		(void)rmdir(scratch_path);
		return -1;
	}
	return open(scratch_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

int fuzz_scratch_put(int dfd, const char *name, const uint8_t *data, size_t len)
{
	int fd, r;

	if (!data) {
		(void)unlinkat(dfd, name, 0);
		return 0;
	}
	fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	r = write_all(fd, data, len);
	close(fd);
	return r < 0 ? -1 : 0;
}
