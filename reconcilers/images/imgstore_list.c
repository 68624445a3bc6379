/*
 * imgstore_list: what the image store holds, which Images use it, and the
 * removal of entries no Image needs any more (only when asked: bramble
 * images prune).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "parse.h"
#include "imgstore_int.h"

#define INFO_MAX    4096
#define PART_SUFFIX ".part"
#define ENTRIES_MAX 100000u

static struct imgstore_entry *entry_get(struct imgstore_list *l, size_t *cap, const char *digest)
{
	struct imgstore_entry *e;
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->v[i].digest, digest) == 0)
			return &l->v[i];
	if (l->n >= ENTRIES_MAX)
		return NULL;
	if (l->n == *cap) {
		size_t c = *cap ? *cap * 2 : 8;
		struct imgstore_entry *v = realloc(l->v, c * sizeof(*v));

		if (!v)
			return NULL;
		l->v = v;
		*cap = c;
	}
	e = &l->v[l->n++];
	memset(e, 0, sizeof(*e));
	memcpy(e->digest, digest, SHA256_HEX_LEN + 1);
	return e;
}

/* Read "url" and "bytes" from sha256/<digest>/info. */
static int info_read(int sha_fd, struct imgstore_entry *e)
{
	struct buf p = BUF_INIT;
	char *data = NULL, *line, *save = NULL;
	uint64_t n;
	size_t len;
	int r;

	r = buf_printf(&p, "%s/%s", e->digest, ENTRY_INFO);
	if (r == 0)
		r = file_read_at(sha_fd, buf_str(&p), INFO_MAX, &data, &len);
	buf_release(&p);
	if (r == -ENOENT) {
		uint64_t files = 0;

		/* Not extracted by this version: measure it. */
		return imgstore_usage(sha_fd, e->digest, &e->bytes, &files);
	}
	if (r < 0)
		return r;
	for (line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "url ", 4) == 0 && !e->url)
			e->url = strdup(line + 4);
		else if (strncmp(line, "bytes ", 6) == 0 &&
			 parse_u64(line + 6, 10, UINT64_MAX - e->bytes, &n) == 0)
			e->bytes += n; /* a damaged line: the size is measured low */
	}
	free(data);
	return 0;
}

/*
 * The entry of a directory entry named by a digest, with a flag set; *ret
 * (when not NULL) is it, or NULL when the name is not a digest (0).
 */
static int entry_mark(struct imgstore_list *l, size_t *cap, const char *name, bool extracted,
		      bool failed, struct imgstore_entry **ret)
{
	struct imgstore_entry *e;

	if (ret)
		*ret = NULL;
	if (!imgstore_is_digest(name))
		return 0;
	e = entry_get(l, cap, name);
	if (!e)
		return -ENOMEM;
	e->extracted |= extracted;
	e->failed |= failed;
	if (ret)
		*ret = e;
	return 0;
}

/* An extracted image: sha256/<digest>/, its info file gives the size. */
static int scan_extracted(int dfd, const char *name, struct imgstore_list *l, size_t *cap)
{
	struct imgstore_entry *e;
	int r = entry_mark(l, cap, name, true, false, &e);

	return r < 0 || !e ? r : info_read(dfd, e);
}

/* An extracted image, without its size (imgstore_fetching() needs none). */
static int scan_extracted_only(int dfd, const char *name, struct imgstore_list *l, size_t *cap)
{
	(void)dfd;
	return entry_mark(l, cap, name, true, false, NULL);
}

/* A kept or partial download: downloads/<digest>[.part]. */
static int scan_download(int dfd, const char *name, struct imgstore_list *l, size_t *cap)
{
	char digest[SHA256_HEX_LEN + 1];
	struct imgstore_entry *e;
	struct stat st;
	size_t n = strlen(name);

	if (n != SHA256_HEX_LEN && !(n == SHA256_HEX_LEN + strlen(PART_SUFFIX) &&
				     strcmp(name + SHA256_HEX_LEN, PART_SUFFIX) == 0))
		return 0;
	memcpy(digest, name, SHA256_HEX_LEN);
	digest[SHA256_HEX_LEN] = '\0';
	if (!imgstore_is_digest(digest) || fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;
	e = entry_get(l, cap, digest);
	if (!e)
		return -ENOMEM;
	e->bytes += (uint64_t)st.st_blocks * 512;
	return 0;
}

/* A failure record: failed/<digest>. */
static int scan_failed(int dfd, const char *name, struct imgstore_list *l, size_t *cap)
{
	(void)dfd;
	return entry_mark(l, cap, name, false, true, NULL);
}

/*
 * Whether a bramble process is bringing digest in now: its lock (locks/,
 * imgstore_lock()) is held.  Probed with a shared lock, let go at once: an
 * imgstore_ensure() that asks for the lock in that instant waits for it.
 */
static bool lock_held(int locks_fd, const char *name)
{
	int fd = openat(locks_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	bool held;

	if (fd < 0)
		return false;
	held = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
	close(fd);
	return held;
}

/* A digest being brought in (its lock held) that is not extracted yet: fetching. */
static int scan_lock(int dfd, const char *name, struct imgstore_list *l, size_t *cap)
{
	struct imgstore_entry *e;
	size_t i;

	if (!imgstore_is_digest(name))
		return 0;
	for (i = 0; i < l->n; i++)
		if (strcmp(l->v[i].digest, name) == 0 && l->v[i].extracted)
			return 0;
	if (!lock_held(dfd, name))
		return 0;
	e = entry_get(l, cap, name);
	if (!e)
		return -ENOMEM;
	e->fetching = true;
	return 0;
}

/*
 * Run fn on every entry of the store's directory dir (absent: nothing); fn
 * adds what the entry says to the list (dfd: that directory).
 */
static int scan_dir(int store_fd, const char *dir,
		    int (*fn)(int dfd, const char *name, struct imgstore_list *l, size_t *cap),
		    struct imgstore_list *l, size_t *cap)
{
	struct dirent *de;
	DIR *d;
	int r;

	r = dir_opendir_beneath(store_fd, dir, false, 0, &d);
	if (r < 0)
		return r == -ENOENT ? 0 : r;
	while (r == 0 && (de = readdir(d)) != NULL)
		r = fn(dirfd(d), de->d_name, l, cap);
	closedir(d);
	return r;
}

static int add_ref(struct imgstore_entry *e, const struct image *img)
{
	const struct image **v = realloc(e->refs, (e->n_refs + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	v[e->n_refs++] = img;
	e->refs = v;
	return 0;
}

static int find_refs(int store_fd, const struct manifest_set *set, struct imgstore_list *l)
{
	size_t i, j;
	int r = 0;

	for (i = 0; r == 0 && set && i < set->n_images; i++) {
		char digest[SHA256_HEX_LEN + 1];

		if (!set->images[i]->url || imgstore_digest(store_fd, set->images[i], digest) < 0)
			continue;
		for (j = 0; r == 0 && j < l->n; j++)
			if (strcmp(l->v[j].digest, digest) == 0)
				r = add_ref(&l->v[j], set->images[i]);
	}
	return r;
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct imgstore_entry *)a)->digest,
		      ((const struct imgstore_entry *)b)->digest);
}

int imgstore_list(int store_fd, const struct manifest_set *set, struct imgstore_list *ret)
{
	struct imgstore_list l = {NULL, 0};
	size_t cap = 0;
	int r;

	r = scan_dir(store_fd, DIR_SHA256, scan_extracted, &l, &cap);
	if (r == 0)
		r = scan_dir(store_fd, DIR_DOWNLOADS, scan_download, &l, &cap);
	if (r == 0)
		r = scan_dir(store_fd, DIR_FAILED, scan_failed, &l, &cap);
	if (r == 0)
		r = scan_dir(store_fd, DIR_LOCKS, scan_lock, &l, &cap);
	if (r == 0)
		r = find_refs(store_fd, set, &l);
	if (r < 0) {
		imgstore_list_release(&l);
		return r;
	}
	if (l.n)
		qsort(l.v, l.n, sizeof(*l.v), entry_cmp);
	*ret = l;
	return 0;
}

int imgstore_fetching(int store_fd, size_t *ret_n)
{
	struct imgstore_list l = {NULL, 0};
	size_t cap = 0, i, n = 0;
	int r;

	r = scan_dir(store_fd, DIR_SHA256, scan_extracted_only, &l, &cap);
	if (r == 0)
		r = scan_dir(store_fd, DIR_LOCKS, scan_lock, &l, &cap);
	for (i = 0; r == 0 && i < l.n; i++)
		n += l.v[i].fetching;
	imgstore_list_release(&l);
	if (r == 0)
		*ret_n = n;
	return r;
}

void imgstore_list_release(struct imgstore_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		free(l->v[i].url);
		free(l->v[i].refs);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* Remove the urls/ records that name digest (their files were hashed to it). */
static void drop_records(int store_fd, const char *digest)
{
	struct dirent *de;
	DIR *d = NULL;

	if (dir_opendir_beneath(store_fd, "urls", false, 0, &d) < 0)
		return;
	while ((de = readdir(d)) != NULL) {
		char *data = NULL;
		size_t len;

		if (!imgstore_is_digest(de->d_name) ||
		    file_read_at(dirfd(d), de->d_name, INFO_MAX, &data, &len) < 0)
			continue;
		if (len > SHA256_HEX_LEN && strncmp(data, digest, SHA256_HEX_LEN) == 0 &&
		    data[SHA256_HEX_LEN] == ' ')
			(void)unlinkat(dirfd(d), de->d_name, 0);
		free(data);
	}
	closedir(d);
}

/* Rename sha256/<digest> away (it disappears at once), then remove it. */
static int remove_extraction(int store_fd, const char *digest)
{
	struct buf from = BUF_INIT, to = BUF_INIT;
	int tfd = -1, r;

	r = dir_open_beneath(store_fd, DIR_TRASH, true, 0700, &tfd);
	if (r == 0)
		r = buf_printf(&from, "%s/%s", DIR_SHA256, digest);
	if (r == 0)
		r = buf_printf(&to, "%s.%ld", digest, (long)getpid());
	if (r == 0 && renameat(store_fd, buf_str(&from), tfd, buf_str(&to)) < 0)
		r = errno == ENOENT ? 1 : -errno;
	if (r == 0)
		r = rm_rf_at(tfd, buf_str(&to));
	if (tfd >= 0)
		close(tfd);
	buf_release(&from);
	buf_release(&to);
	return r > 0 ? 0 : r;
}

static int remove_download(int store_fd, const char *digest, const char *suffix)
{
	struct buf p = BUF_INIT;
	int r;

	r = buf_printf(&p, "%s/%s%s", DIR_DOWNLOADS, digest, suffix);
	if (r == 0 && unlinkat(store_fd, buf_str(&p), 0) < 0 && errno != ENOENT)
		r = -errno;
	buf_release(&p);
	return r;
}

int imgstore_remove(int store_fd, const char *digest, struct buf *err)
{
	int lock_fd = -1, r;

	if (!imgstore_is_digest(digest))
		return -EINVAL;
	r = imgstore_lock(store_fd, digest, true, &lock_fd);
	if (r == -EWOULDBLOCK) {
		buf_printf(err, "sha256/%s is being brought in by another bramble process", digest);
		return -EBUSY;
	}
	if (r == 0)
		r = remove_extraction(store_fd, digest);
	if (r == 0)
		r = remove_download(store_fd, digest, "");
	if (r == 0)
		r = remove_download(store_fd, digest, PART_SUFFIX);
	if (r == 0)
		r = imgstore_failed_forget(store_fd, digest);
	if (r == 0)
		drop_records(store_fd, digest);
	if (r < 0)
		buf_printf(err, "cannot remove sha256/%s: %s", digest, strerror(-r));
	if (lock_fd >= 0)
		close(lock_fd);
	return r;
}
