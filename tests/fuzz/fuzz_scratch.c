#include "fuzz_scratch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
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

/*
 * Remove the scratch directories of this target whose process is gone: a
 * killed fuzzer (SIGKILL, the campaign's time limit) runs no atexit().
 */
static void scratch_reap(const char *parent, const char *name)
{
	char prefix[96];
	struct dirent *de;
	DIR *d;
	int n = snprintf(prefix, sizeof(prefix), "bramble-fuzz-%s.", name);

	if (n < 0 || (size_t)n >= sizeof(prefix) || !(d = opendir(parent)))
		return;
	while ((de = readdir(d)) != NULL) {
		char *end;
		long pid;

		if (strncmp(de->d_name, prefix, (size_t)n) != 0)
			continue;
		errno = 0;
		pid = strtol(de->d_name + n, &end, 10);
		if (errno || end == de->d_name + n || *end != '.' || pid <= 0)
			continue;
		if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue; /* alive (or not ours to tell) */
		(void)rm_rf_at(dirfd(d), de->d_name);
	}
	closedir(d);
}

int fuzz_scratch_dir(const char *name, char *path, size_t size)
{
	const char *parent = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	int w;

	scratch_reap(parent, name);
	w = snprintf(scratch_path, sizeof(scratch_path), "%s/bramble-fuzz-%s.%d.XXXXXX", parent,
		     name, (int)getpid());
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
