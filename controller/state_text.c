#include "state_text.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

void state_text_copy(char *out, size_t size, const char *s)
{
	size_t i;

	snprintf(out, size, "%s", s ? s : "");
	for (i = 0; out[i]; i++)
		if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
			out[i] = ' ';
}

void state_text_time(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, 32, "%" PRId64, t);
}

int state_text_write(const char *state_dir, const char *name, const struct buf *text,
		     enum atomic_sync sync)
{
	int dirfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r;

	if (dirfd < 0)
		return -errno;
	r = atomic_write_at(dirfd, name, buf_str(text), text->len, 0644, sync);
	close(dirfd);
	return r;
}
