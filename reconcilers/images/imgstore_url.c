/*
 * imgstore_url: which digest an Image is stored under.  An Image with a
 * sha256 names it; a file:// Image without one is hashed once, and the
 * digest is recorded with the file's size, mtime and inode in
 * urls/<sha256 of the url>, so that later passes (and plan) find it with one
 * stat instead of reading the whole file again.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic.h"
#include "fsutil.h"
#include "parse.h"
#include "hash.h"
#include "heartbeat.h"
#include "imgstore_int.h"
#include "stop.h"

#define URLS_DIR	 "urls"
#define RECORD_MAX	 4096
#define HASH_BLOCK	 ((size_t)1 << 20)
#define FILE_URL	 "file://"
#define FILE_URL_LOCAL	 "file://localhost/"
#define URL_PATH_MAX_LEN 4096

int imgstore_file_url_path(const char *url, char **ret)
{
	const char *p;
	struct buf b = BUF_INIT;
	int r = 0;

	if (strncmp(url, FILE_URL_LOCAL, strlen(FILE_URL_LOCAL)) == 0)
		p = url + strlen(FILE_URL_LOCAL) - 1;
	else if (strncmp(url, FILE_URL, strlen(FILE_URL)) == 0)
		p = url + strlen(FILE_URL);
	else
		return -ENOENT;
	if (*p != '/' || strpbrk(p, "?#"))
		return -EINVAL;
	buf_set_max(&b, URL_PATH_MAX_LEN);
	for (; r == 0 && *p; p++) {
		int hi, lo;

		if (*p != '%') {
			r = buf_addch(&b, *p);
			continue;
		}
		hi = hex_value(p[1]);
		lo = hi < 0 ? -1 : hex_value(p[2]);
		if (lo < 0 || (hi == 0 && lo == 0))
			r = -EINVAL;
		else
			r = buf_addch(&b, (char)(hi << 4 | lo));
		p += 2;
	}
	if (r < 0) {
		buf_release(&b);
		return r;
	}
	*ret = buf_detach(&b, NULL);
	return *ret ? 0 : -ENOMEM;
}

int imgstore_url_public(const char *url, char **ret)
{
	const char *host = strstr(url, "://"), *at, *end;
	struct buf b = BUF_INIT;
	int r;

	if (!host) {
		*ret = strdup(url);
		return *ret ? 0 : -ENOMEM;
	}
	host += 3;
	end = host + strcspn(host, "/?#");
	at = memchr(host, '@', (size_t)(end - host));
	r = buf_add(&b, url, (size_t)(host - url));
	if (r == 0)
		r = buf_adds(&b, at ? at + 1 : host);
	*ret = r == 0 ? buf_detach(&b, NULL) : NULL;
	buf_release(&b);
	return *ret ? 0 : -ENOMEM;
}

/* SHA-256 of the whole file open at fd, read from its start. */
int imgstore_hash_fd(int fd, char ret[SHA256_HEX_LEN + 1])
{
	struct sha256_ctx c;
	char *block = malloc(HASH_BLOCK);
	uint64_t off = 0;
	int r;

	if (!block)
		return -ENOMEM;
	r = sha256_init(&c);
	while (r == 0) {
		ssize_t n = pread(fd, block, HASH_BLOCK, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : 1;
			break;
		}
		off += (uint64_t)n;
		heartbeat();
		r = stop_requested() ? -ECANCELED : sha256_update(&c, block, (size_t)n);
	}
	free(block);
	if (r == 1)
		return sha256_final_hex(&c, ret);
	sha256_release(&c);
	return r;
}

static int record_name(const char *url, char ret[SHA256_HEX_LEN + 1])
{
	return sha256_hex(url, strlen(url), ret);
}

static int64_t mtime_ns(const struct stat *st)
{
	return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

/*
 * Whether the record's text ("<digest> <size> <mtime_ns> <ino>\n") names the
 * file st is; a damaged record is a cache miss (the file is hashed again).
 */
static bool record_holds(char *data, size_t len, const struct stat *st,
			 char ret[SHA256_HEX_LEN + 1])
{
	struct state_reader sr;
	char *line = NULL, *f[4];
	uint64_t size, ino;
	int64_t mt;
	size_t n;

	state_reader_init(&sr, URLS_DIR, NULL, data, len, NULL);
	if (state_next_line(&sr, &line) <= 0 ||
	    state_split(&sr, line, ' ', 4, 4, f, &n, "four fields") < 0 ||
	    !imgstore_is_digest(f[0]) || parse_u64(f[1], 10, UINT64_MAX, &size) < 0 ||
	    parse_i64(f[2], INT64_MIN, INT64_MAX, &mt) < 0 ||
	    parse_u64(f[3], 10, UINT64_MAX, &ino) < 0)
		return false;
	if (size != (uint64_t)st->st_size || mt != mtime_ns(st) || ino != (uint64_t)st->st_ino)
		return false;
	memcpy(ret, f[0], SHA256_HEX_LEN + 1);
	return true;
}

/* The recorded digest of url, when the file still has the recorded identity. */
static int record_read(int store_fd, const char *url, const struct stat *st,
		       char ret[SHA256_HEX_LEN + 1])
{
	char name[SHA256_HEX_LEN + 1], *data = NULL;
	struct buf path = BUF_INIT;
	size_t len;
	int r;

	r = record_name(url, name);
	if (r == 0)
		r = buf_printf(&path, "%s/%s", URLS_DIR, name);
	if (r == 0)
		r = file_read_at(store_fd, buf_str(&path), RECORD_MAX, &data, &len);
	buf_release(&path);
	if (r < 0)
		return r == -ENOTDIR ? -ENOENT : r;
	if (!record_holds(data, len, st, ret))
		r = -ENOENT;
	free(data);
	return r;
}

int imgstore_record_write(int store_fd, const char *url, const struct stat *st, const char *digest)
{
	char name[SHA256_HEX_LEN + 1];
	struct buf text = BUF_INIT;
	int dfd = -1, r;

	r = record_name(url, name);
	if (r == 0)
		r = dir_open_beneath(store_fd, URLS_DIR, true, 0700, &dfd);
	/* A record tells the digest, size and inode of a local file, also of one the
	 * image was refused for: for root only (a store made before keeps 0755 no more). */
	if (r == 0 && fchmod(dfd, 0700) < 0)
		r = -errno;
	if (r == 0)
		r = buf_printf(&text, "%s %llu %lld %llu\n%s\n", digest,
			       (unsigned long long)st->st_size, (long long)mtime_ns(st),
			       (unsigned long long)st->st_ino, url);
	if (r == 0)
		r = imgstore_remove_dead_temps(dfd);
	if (r == 0)
		r = atomic_write_at(dfd, name, text.data, text.len, 0600, ATOMIC_SYNC_NONE);
	if (dfd >= 0)
		close(dfd);
	buf_release(&text);
	return r;
}

int imgstore_remove_dead_temps(int dfd)
{
	struct dirent *de;
	int fd, r = 0;
	DIR *d;

	fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		r = -errno;
		close(fd);
		return r;
	}
	while (r == 0 && (de = readdir(d)) != NULL)
		if (atomic_temp_is_stale(de->d_name) && unlinkat(dirfd(d), de->d_name, 0) < 0 &&
		    errno != ENOENT && errno != EISDIR)
			r = -errno;
	closedir(d);
	return r;
}

int imgstore_digest(int store_fd, const struct image *img, char ret[SHA256_HEX_LEN + 1])
{
	struct stat st;
	char *path = NULL;
	int r;

	if (!img->url)
		return -EINVAL;
	if (img->sha256) {
		if (!imgstore_is_digest(img->sha256))
			return -EINVAL;
		memcpy(ret, img->sha256, SHA256_HEX_LEN + 1);
		return 0;
	}
	r = imgstore_file_url_path(img->url, &path);
	if (r < 0)
		return r == -ENOMEM ? r : -ENOENT;
	r = stat(path, &st) < 0 ? -ENOENT : record_read(store_fd, img->url, &st, ret);
	free(path);
	return r;
}
