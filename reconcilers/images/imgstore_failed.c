/*
 * imgstore_failed: remember an image that cannot be extracted.
 *
 * An image file is named by its digest, so a broken or hostile one fails
 * the same way every time: without a record, the daemon would decompress it
 * again (up to images.maxSize) at every pass.  failed/<digest> holds the
 * message, with the version and limits it was found with; a record of
 * another version or other limits is not used.  `bramble images prune`
 * removes the records with the rest of an unused entry.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atomic.h"
#include "fsutil.h"
#include "imgstore_int.h"

#define FAILED_MAX 8192

static int failed_key(const struct imgstore_opts *o, struct buf *b)
{
	return buf_printf(b, "bramble %s maxsize %llu entries %llu\n", BRAMBLE_VERSION,
			  (unsigned long long)o->max_size, (unsigned long long)o->max_entries);
}

int imgstore_failed_check(int store_fd, const char *digest, const struct imgstore_opts *o,
			  struct buf *msg)
{
	struct buf key = BUF_INIT, path = BUF_INIT;
	char *data = NULL;
	size_t len = 0;
	int r;

	r = failed_key(o, &key);
	if (r == 0)
		r = buf_printf(&path, "%s/%s", DIR_FAILED, digest);
	if (r == 0)
		r = file_read_at(store_fd, buf_str(&path), FAILED_MAX, &data, &len);
	if (r == 0 && len > key.len && strncmp(data, buf_str(&key), key.len) == 0) {
		data[strcspn(data + key.len, "\n") + key.len] = '\0';
		buf_printf(msg,
			   "%s (found by an earlier pass; the image file has not changed: it is "
			   "named by its digest)",
			   data + key.len);
		r = -EINVAL;
	} else if (r == 0 || r == -ENOENT || r == -ENOTDIR) {
		r = 0;
	}
	free(data);
	buf_release(&key);
	buf_release(&path);
	return r;
}

void imgstore_failed_record(int store_fd, const char *digest, const struct imgstore_opts *o,
			    const char *msg)
{
	struct buf text = BUF_INIT;
	int dfd = -1;

	/* Best effort: without the record, the image is only tried again. */
	if (failed_key(o, &text) == 0 && buf_printf(&text, "%s\n", msg) == 0 &&
	    dir_open_beneath(store_fd, DIR_FAILED, true, 0700, &dfd) == 0)
		(void)atomic_write_at(dfd, digest, text.data, text.len, 0600, ATOMIC_SYNC_NONE);
	if (dfd >= 0)
		close(dfd);
	buf_release(&text);
}

int imgstore_failed_forget(int store_fd, const char *digest)
{
	struct buf path = BUF_INIT;
	int r;

	r = buf_printf(&path, "%s/%s", DIR_FAILED, digest);
	if (r == 0 && unlinkat(store_fd, buf_str(&path), 0) < 0 && errno != ENOENT &&
	    errno != ENOTDIR)
		r = -errno;
	buf_release(&path);
	return r;
}
