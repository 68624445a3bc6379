/*
 * imgstore: bring an Image given by url into the content-addressed store
 * (imgstore.h): fetch, verify, extract into staging, publish by rename.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <stdbool.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "download.h"
#include "fsutil.h"
#include "imgstore_int.h"
#include "stop.h"

/* One imgstore_ensure() call. */
struct ensure {
	int store_fd;
	const struct image *img;
	const struct imgstore_opts *o;
	char digest[SHA256_HEX_LEN + 1];
	char *path; /* a file:// image's file, read in place */
	char *public_url;
	int in_fd;	   /* the image file */
	struct stat in_st; /* its identity when opened (file://) */
	bool verified;	   /* the image file's digest is known to be right */
	bool downloaded;   /* downloads/<digest> is ours to remove */
	int lock_fd;
	struct buf *msg;
};

void imgstore_note(void (*note)(void *, const char *), void *arg, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;
	int r;

	if (!note)
		return;
	va_start(ap, fmt);
	r = buf_vprintf(&b, fmt, ap);
	va_end(ap);
	if (r == 0)
		note(arg, buf_str(&b));
	buf_release(&b);
}

double imgstore_elapsed(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

const char *imgstore_human(uint64_t bytes, char out[32])
{
	static const char *const units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)bytes;
	unsigned u = 0;

	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	if (u == 0 || v >= 10)
		snprintf(out, 32, "%.0f %s", v, units[u]);
	else
		snprintf(out, 32, "%.1f %s", v, units[u]);
	return out;
}

bool imgstore_is_digest(const char *s)
{
	size_t i;

	for (i = 0; i < SHA256_HEX_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[i] == '\0';
}

int imgstore_has(int store_fd, const char *digest)
{
	struct buf p = BUF_INIT;
	struct stat st;
	int r;

	if (!imgstore_is_digest(digest))
		return -EINVAL;
	r = buf_printf(&p, "%s/%s", DIR_SHA256, digest);
	if (r < 0)
		return r;
	r = fstatat(store_fd, buf_str(&p), &st, AT_SYMLINK_NOFOLLOW) == 0 ? S_ISDIR(st.st_mode)
	    : errno == ENOENT || errno == ENOTDIR			  ? 0
									  : -errno;
	buf_release(&p);
	return r;
}

/*
 * The wait for a lock another process holds is polled (LOCK_POLL_MS), so that
 * a SIGTERM (common/stop.h) ends it within a second: -ECANCELED.
 */
#define LOCK_POLL_MS 50
int imgstore_lock(int store_fd, const char *digest, bool nonblock, int *ret_fd)
{
	const struct timespec wait_ts = {0, LOCK_POLL_MS * 1000000L};
	int dfd, fd, r = 0;

	r = dir_open_beneath(store_fd, DIR_LOCKS, true, 0700, &dfd);
	if (r < 0)
		return r;
	fd = openat(dfd, digest, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	r = fd < 0 ? -errno : 0;
	close(dfd);
	while (r == 0 && flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EINTR)
			continue;
		r = -errno;
		if (nonblock || (r != -EWOULDBLOCK && r != -EAGAIN))
			break;
		if (stop_requested()) {
			r = -ECANCELED;
			break;
		}
		(void)nanosleep(&wait_ts, NULL);
		r = 0;
	}
	if (r < 0) {
		if (fd >= 0)
			close(fd);
		return r == -EAGAIN ? -EWOULDBLOCK : r;
	}
	*ret_fd = fd;
	return 0;
}

/* "<digest>.<pid>": the digest whose lock guards a staging or trash entry. */
static bool entry_digest(const char *name, char out[SHA256_HEX_LEN + 1])
{
	if (strlen(name) <= SHA256_HEX_LEN + 1 || name[SHA256_HEX_LEN] != '.')
		return false;
	memcpy(out, name, SHA256_HEX_LEN);
	out[SHA256_HEX_LEN] = '\0';
	return imgstore_is_digest(out);
}

/* Remove the entries of dir whose digest nobody holds the lock of. */
static int clean_dir(int store_fd, const char *dir, const char *held)
{
	struct dirent *de;
	DIR *d;
	int r, n = 0;

	r = dir_opendir_beneath(store_fd, dir, false, 0, &d);
	if (r < 0)
		return r == -ENOENT ? 0 : r;
	while ((de = readdir(d)) != NULL) {
		char digest[SHA256_HEX_LEN + 1];
		int lock_fd = -1;

		if (!entry_digest(de->d_name, digest))
			continue;
		if (!(held && strcmp(held, digest) == 0) &&
		    imgstore_lock(store_fd, digest, true, &lock_fd) < 0)
			continue;
		if (rm_rf_at(dirfd(d), de->d_name) == 0)
			n++;
		if (lock_fd >= 0)
			close(lock_fd);
	}
	closedir(d);
	return n;
}

int imgstore_clean_staging(int store_fd)
{
	int a = clean_dir(store_fd, DIR_STAGING, NULL), b = clean_dir(store_fd, DIR_TRASH, NULL);

	return a < 0 ? a : b < 0 ? b : a + b;
}

static uint64_t max_size(const struct imgstore_opts *o)
{
	return o->max_size ? o->max_size : IMGSTORE_MAX_SIZE_DEFAULT;
}

/* Open a file:// image in place and find its digest (hashing it once). */
/* The file systems whose "files" are the kernel's, not images. */
static bool pseudo_fs(int fd)
{
	static const unsigned long magic[] = {
		PROC_SUPER_MAGIC, SYSFS_MAGIC,	      DEBUGFS_MAGIC,	   TRACEFS_MAGIC,
		SECURITYFS_MAGIC, CGROUP_SUPER_MAGIC, CGROUP2_SUPER_MAGIC, BPF_FS_MAGIC,
		EFIVARFS_MAGIC,	  DEVPTS_SUPER_MAGIC,
	};
	struct statfs sf;
	size_t i;

	if (fstatfs(fd, &sf) < 0)
		return true; /* not knowing is not reading */
	for (i = 0; i < sizeof(magic) / sizeof(magic[0]); i++)
		if ((unsigned long)sf.f_type == magic[i])
			return true;
	return false;
}

/*
 * What a file:// Image may name: a regular file (not a FIFO, device or
 * socket: opened O_NONBLOCK, so none blocks), not on /proc, /sys or another
 * of the kernel's file systems, and readable by everyone.  bramble runs as
 * root and a manifest's author need not be: the last rule keeps a commit
 * from having it read (and hash, and record the size and inode of) a file
 * such as /etc/shadow or a key.  Nothing is recorded about a refused file.
 */
static int file_image_allowed(struct ensure *e)
{
	if (!S_ISREG(e->in_st.st_mode)) {
		buf_printf(e->msg, "%s is not a regular file", e->path);
		return -EINVAL;
	}
	if (pseudo_fs(e->in_fd)) {
		buf_printf(e->msg, "%s is on a kernel file system (/proc, /sys, ...), not an image",
			   e->path);
		return -EINVAL;
	}
	if (!(e->in_st.st_mode & S_IROTH)) {
		buf_printf(e->msg,
			   "%s is not readable by everyone (mode %04o); a file:// image must be "
			   "(chmod o+r)",
			   e->path, (unsigned)(e->in_st.st_mode & 07777));
		return -EACCES;
	}
	return 0;
}

static int open_file_image(struct ensure *e)
{
	int r;

	e->in_fd = open(e->path, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (e->in_fd < 0 || fstat(e->in_fd, &e->in_st) < 0) {
		r = -errno;
		buf_printf(e->msg, "cannot open %s: %s", e->path, strerror(-r));
		return r;
	}
	r = file_image_allowed(e);
	if (r < 0)
		return r;
	if ((uint64_t)e->in_st.st_size > max_size(e->o)) {
		buf_printf(e->msg, "%s is larger than the limit (images.maxSize)", e->path);
		return -EFBIG;
	}
	if (e->img->sha256) {
		if (!imgstore_is_digest(e->img->sha256))
			return -EINVAL;
		memcpy(e->digest, e->img->sha256, sizeof(e->digest));
		return 0;
	}
	/* A file:// image without a sha256 is its own digest, recorded with its identity. */
	if (imgstore_digest(e->store_fd, e->img, e->digest) == 0) {
		e->verified = true;
		return 0;
	}
	r = imgstore_hash_fd(e->in_fd, e->digest);
	if (r == 0)
		r = imgstore_record_write(e->store_fd, e->img->url, &e->in_st, e->digest);
	if (r == -ECANCELED)
		buf_printf(e->msg, "the hashing of %s stopped (bramble is stopping)", e->path);
	else if (r < 0)
		buf_printf(e->msg, "cannot hash %s: %s", e->path, strerror(-r));
	e->verified = r == 0;
	return r;
}

static int check_sum(struct ensure *e, const char *got)
{
	if (strcmp(got, e->digest) == 0) {
		e->verified = true;
		return 0;
	}
	buf_printf(e->msg, "checksum mismatch for %s: expected sha256 %s, got %s", e->public_url,
		   e->digest, got);
	return -EBADMSG;
}

/* Fetch an http(s) image into downloads/<digest> (once) and open it. */
static int fetch_download(struct ensure *e)
{
	struct download_opts d;
	char got[SHA256_HEX_LEN + 1], h[32];
	struct timespec start;
	int dfd, r;

	r = dir_open_beneath(e->store_fd, DIR_DOWNLOADS, true, 0700, &dfd);
	if (r < 0)
		return r;
	e->in_fd = openat(dfd, e->digest, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (e->in_fd < 0 && errno == ENOENT) {
		memset(&d, 0, sizeof(d));
		d.url = e->img->url;
		d.sha256 = e->digest;
		d.max_bytes = e->o->max_size;
		d.timeout_s = e->o->timeout_s;
		d.retries = e->o->retries;
		d.backoff_ms = e->o->backoff_ms;
		d.ca_file = e->o->ca_file;
		d.quiet = e->o->quiet;
		d.note = e->o->download_note;
		d.note_arg = e->o->note_arg;
		d.progress = e->o->progress.fn ? &e->o->progress : NULL;
		clock_gettime(CLOCK_MONOTONIC, &start);
		imgstore_note(e->o->note, e->o->note_arg, "image \"%s\": downloading %s",
			      e->img->name, e->public_url);
		r = download_file(dfd, e->digest, &d, got, e->msg);
		if (r == 0)
			r = check_sum(e, got);
		if (r == 0)
			e->in_fd = openat(dfd, e->digest, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (r == 0 && e->in_fd >= 0 && fstat(e->in_fd, &e->in_st) == 0)
			imgstore_note(e->o->note, e->o->note_arg,
				      "image \"%s\": downloaded %s in %.1f s", e->img->name,
				      imgstore_human((uint64_t)e->in_st.st_size, h),
				      imgstore_elapsed(&start));
	}
	e->downloaded = e->in_fd >= 0;
	e->verified = e->downloaded; /* a download is named by its digest only when verified */
	if (r == 0 && e->in_fd < 0)
		r = -errno;
	close(dfd);
	return r;
}

/* A file:// image given with a sha256 is checked before it is decompressed. */
static int verify_file(struct ensure *e)
{
	char got[SHA256_HEX_LEN + 1], h[32];
	struct timespec start;
	int r;

	if (e->verified)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &start);
	r = imgstore_hash_fd(e->in_fd, got);
	if (r == -ECANCELED) {
		buf_printf(e->msg, "the check of %s stopped (bramble is stopping)", e->path);
		return r;
	}
	if (r < 0) {
		buf_printf(e->msg, "cannot read %s: %s", e->path, strerror(-r));
		return r;
	}
	r = check_sum(e, got);
	if (r == 0)
		imgstore_note(e->o->note, e->o->note_arg,
			      "image \"%s\": checked the sha256 of %s in %.1f s", e->img->name,
			      imgstore_human((uint64_t)e->in_st.st_size, h),
			      imgstore_elapsed(&start));
	return r;
}

/* A file read in place must not have changed while it was extracted. */
static int check_unchanged(struct ensure *e)
{
	struct stat st;

	if (!e->path)
		return 0;
	if (fstat(e->in_fd, &st) < 0)
		return -errno;
	if (st.st_size == e->in_st.st_size && st.st_mtim.tv_sec == e->in_st.st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == e->in_st.st_mtim.tv_nsec)
		return 0;
	buf_printf(e->msg, "%s changed while it was read; try again", e->path);
	return -EAGAIN;
}

static int write_info(int dir_fd, const struct ensure *e, const struct extract_result *res)
{
	struct buf b = BUF_INIT;
	int fd, r;

	r = buf_printf(&b,
		       "url %s\nimage %s\nbytes %llu\ndisk-size %llu\nboot-files %llu\n"
		       "root-files %llu\nroot-bytes %llu\n",
		       e->public_url, e->img->name, (unsigned long long)res->disk_usage,
		       (unsigned long long)res->disk_size, (unsigned long long)res->boot_files,
		       (unsigned long long)res->root_files, (unsigned long long)res->root_bytes);
	if (r < 0)
		return r;
	fd = openat(dir_fd, ENTRY_INFO, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	r = fd < 0 ? -errno : write_all(fd, b.data, b.len);
	if (fd >= 0 && close(fd) < 0 && r == 0)
		r = -errno;
	buf_release(&b);
	return r;
}

/*
 * Make the staging directory durable and move it to sha256/<digest>: one
 * syncfs for every file of the extraction, then the rename, then an fsync
 * of sha256/ for the rename itself.
 */
static int publish(struct ensure *e, int staging_fd, int dir_fd, const char *name)
{
	int sha_fd, r;

	r = dir_open_beneath(e->store_fd, DIR_SHA256, true, 0755, &sha_fd);
	if (r < 0)
		return r;
	if (fchmod(dir_fd, 0755) < 0 || syncfs(e->store_fd) < 0 ||
	    renameat(staging_fd, name, sha_fd, e->digest) < 0 || fsync(sha_fd) < 0)
		r = -errno;
	close(sha_fd);
	return r;
}

static void note_result(const struct ensure *e, const struct extract_result *res)
{
	const struct imgstore_opts *o = e->o;
	const char *n = e->img->name;
	char h1[32], h2[32];

	imgstore_note(o->note, o->note_arg, "image \"%s\": decompressed %s in %.1f s (%.0f MiB/s)",
		      n, imgstore_human(res->disk_size, h1), res->unpack_s,
		      res->unpack_s > 0 ? (double)res->disk_size / MIB / res->unpack_s : 0.0);
	imgstore_note(o->note, o->note_arg,
		      "image \"%s\": extracted boot (%llu files) in %.1f s%s and root (%llu files, "
		      "%s) in %.1f s",
		      n, (unsigned long long)res->boot_files, res->boot_s,
		      res->boot_early ? " while decompressing" : "",
		      (unsigned long long)res->root_files, imgstore_human(res->root_bytes, h2),
		      res->root_s);
	if (res->devices_skipped)
		imgstore_note(o->note, o->note_arg,
			      "image \"%s\": %llu device nodes of the root were skipped (creating "
			      "them needs root)",
			      n, (unsigned long long)res->devices_skipped);
}

/*
 * A staging entry given up because bramble is stopping: moved to the trash
 * with one rename, its removal (a disk image and a root: seconds under
 * load) left to the next pass (clean_dir), so that SIGTERM ends the process
 * within a second.  Removed here when it cannot be moved.
 */
static void to_trash(int store_fd, int staging_fd, const char *name)
{
	int tfd = -1;

	if (dir_open_beneath(store_fd, DIR_TRASH, true, 0700, &tfd) < 0 ||
	    renameat(staging_fd, name, tfd, name) < 0)
		(void)rm_rf_at(staging_fd, name);
	if (tfd >= 0)
		close(tfd);
}

/* Extract into staging/<digest>.<pid> and publish it; remove it on failure. */
static int extract_publish(struct ensure *e)
{
	struct extract_result res;
	struct buf name = BUF_INIT;
	struct timespec start;
	double extract_s;
	char h[32];
	int staging_fd = -1, dir_fd = -1, r;

	r = buf_printf(&name, "%s.%ld", e->digest, (long)getpid());
	if (r == 0)
		r = dir_open_beneath(e->store_fd, DIR_STAGING, true, 0700, &staging_fd);
	if (r == 0 && mkdirat(staging_fd, buf_str(&name), 0700) < 0)
		r = -errno;
	if (r == 0)
		r = dir_open_beneath(staging_fd, buf_str(&name), false, 0, &dir_fd);
	if (r < 0) {
		buf_printf(e->msg, "cannot make a staging directory: %s", strerror(-r));
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &start);
	r = imgstore_extract(dir_fd, e->in_fd, e->o, &res, e->msg);
	if (r == 0)
		r = check_unchanged(e);
	if (r == 0)
		note_result(e, &res);
	extract_s = imgstore_elapsed(&start);
	clock_gettime(CLOCK_MONOTONIC, &start);
	if (r == 0 && (r = write_info(dir_fd, e, &res)) == 0 &&
	    (r = publish(e, staging_fd, dir_fd, buf_str(&name))) == 0)
		imgstore_note(e->o->note, e->o->note_arg,
			      "image \"%s\": in the image store as sha256/%s (%s on disk; "
			      "extracted in %.1f s, made durable in %.1f s)",
			      e->img->name, e->digest, imgstore_human(res.disk_usage, h), extract_s,
			      imgstore_elapsed(&start));
	else if (r < 0 && e->msg->len == 0)
		buf_printf(e->msg, "cannot store the extraction: %s", strerror(-r));
	if (r == -ECANCELED && staging_fd >= 0)
		to_trash(e->store_fd, staging_fd, buf_str(&name));
	else if (r < 0 && staging_fd >= 0)
		(void)rm_rf_at(staging_fd, buf_str(&name));
out:
	if (dir_fd >= 0)
		close(dir_fd);
	if (staging_fd >= 0)
		close(staging_fd);
	buf_release(&name);
	return r;
}

/* Find the digest, and open the image file for a file:// image. */
static int resolve(struct ensure *e)
{
	int r;

	r = imgstore_file_url_path(e->img->url, &e->path);
	if (r == -ENOENT) {
		if (!e->img->sha256) {
			buf_adds(e->msg, "a sha256 is required for an http or https url");
			return -EINVAL;
		}
		memcpy(e->digest, e->img->sha256, sizeof(e->digest));
		return imgstore_is_digest(e->digest) ? 0 : -EINVAL;
	}
	if (r < 0) {
		buf_printf(e->msg, "bad file:// url %s", e->public_url);
		return r;
	}
	return open_file_image(e);
}

/* An error that the image's content causes, the same at every attempt. */
static bool content_error(int r)
{
	return r == -EINVAL || r == -EFBIG || r == -E2BIG || r == -ELOOP || r == -EOPNOTSUPP;
}

/* Under the lock: fetch, verify, extract, publish. */
static int bring_in(struct ensure *e)
{
	int r;

	r = imgstore_lock(e->store_fd, e->digest, true, &e->lock_fd);
	if (r == -EWOULDBLOCK) {
		imgstore_note(e->o->note, e->o->note_arg,
			      "image \"%s\": another bramble process is bringing it into the "
			      "store; waiting",
			      e->img->name);
		r = imgstore_lock(e->store_fd, e->digest, false, &e->lock_fd);
	}
	if (r == -ECANCELED) {
		buf_adds(e->msg,
			 "the wait for the image store's lock stopped (bramble is stopping)");
		return r;
	}
	if (r < 0) {
		buf_printf(e->msg, "cannot lock the image store: %s", strerror(-r));
		return r;
	}
	r = imgstore_has(e->store_fd, e->digest);
	if (r != 0)
		return r < 0 ? r : 0;
	(void)clean_dir(e->store_fd, DIR_STAGING, e->digest);
	(void)clean_dir(e->store_fd, DIR_TRASH, e->digest); /* a stopped pass's (to_trash) */
	r = imgstore_failed_check(e->store_fd, e->digest, e->o, e->msg);
	if (r == 0)
		r = e->path ? verify_file(e) : fetch_download(e);
	if (r == 0) {
		r = extract_publish(e);
		if (content_error(r))
			imgstore_failed_record(e->store_fd, e->digest, e->o, buf_str(e->msg));
	}
	if (r == 0 && e->downloaded && !e->o->keep_downloads) {
		struct buf p = BUF_INIT;

		if (buf_printf(&p, "%s/%s", DIR_DOWNLOADS, e->digest) == 0)
			(void)unlinkat(e->store_fd, buf_str(&p), 0);
		buf_release(&p);
	}
	return r;
}

int imgstore_ensure(int store_fd, const struct image *img, const struct imgstore_opts *o,
		    char ret_digest[SHA256_HEX_LEN + 1], struct buf *err)
{
	static const struct imgstore_opts defaults;
	struct buf msg = BUF_INIT;
	struct ensure e;
	int r;

	memset(&e, 0, sizeof(e));
	e.store_fd = store_fd;
	e.img = img;
	e.o = o ? o : &defaults;
	e.in_fd = -1;
	e.lock_fd = -1;
	e.msg = &msg;
	if (!img->url)
		return -EINVAL;
	r = imgstore_url_public(img->url, &e.public_url);
	/* The usual case, an image already in the store, reads nothing. */
	if (r == 0 && imgstore_digest(store_fd, img, e.digest) == 0 &&
	    imgstore_has(store_fd, e.digest) > 0)
		goto out;
	if (r == 0)
		r = resolve(&e);
	if (r == 0) {
		r = imgstore_has(store_fd, e.digest);
		if (r == 0)
			r = bring_in(&e);
		else if (r > 0)
			r = 0;
	}
out:
	/* Nothing is written to a lock file, but a close error is an error. */
	if (e.lock_fd >= 0 && close(e.lock_fd) < 0 && r == 0) {
		r = -errno;
		buf_printf(&msg, "cannot close its lock %s/%s: %s", DIR_LOCKS, e.digest,
			   strerror(-r));
	}
	if (r == 0)
		memcpy(ret_digest, e.digest, sizeof(e.digest));
	else
		buf_printf(err, "image \"%s\": %s", img->name,
			   msg.len ? buf_str(&msg) : strerror(-r));
	if (e.in_fd >= 0)
		close(e.in_fd);
	free(e.path);
	free(e.public_url);
	buf_release(&msg);
	return r;
}
