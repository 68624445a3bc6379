/*
 * imgstore_int: what the image store's files share and nothing else uses.
 */
#ifndef BRAMBLE_IMGSTORE_INT_H
#define BRAMBLE_IMGSTORE_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "buf.h"
#include "imgstore.h"
#include "progress.h"

#define MIB ((uint64_t)1 << 20)

/* How imgstore_ensure() drives the decompression. */
struct unpack_ctl {
	uint64_t max_size; /* 0: IMGSTORE_MAX_SIZE_DEFAULT */
	void (*note)(void *arg, const char *line);
	void *note_arg;
	/*
	 * Called after each block with the length of the disk that is final
	 * so far (the output file is at least that long, holes included), so
	 * that a partition can be extracted while the rest is decompressed.
	 * A negative return stops the decompression with that error.
	 */
	int (*progress)(void *arg, uint64_t done);
	void *progress_arg;
	const struct progress_cb *meter; /* "decompress" reports (progress.h), or NULL */
};

int unpack_run(int in_fd, int out_fd, const struct unpack_ctl *c, uint64_t *ret_size,
	       struct buf *err);

/* The decompression of one image into one sparse file (imgstore_unpack.c). */
struct unpack {
	int in_fd, out_fd;
	const struct unpack_ctl *c;
	uint64_t max;	   /* the largest disk */
	uint64_t done;	   /* bytes of the disk produced so far */
	uint64_t file_len; /* length of the output file */
	uint64_t estimate; /* the disk's size as its partition table says; 0: unknown */
	uint64_t total;	   /* the disk's size as the image file says; 0: unknown */
	bool total_hint;   /* total is gzip's ISIZE (mod 2^32): the table may overrule it */
	struct buf *err;
	void *arch; /* the libarchive handle, when not .xz */
};

/*
 * Hand over len decompressed bytes that belong at disk offset off: checked
 * against the limit, written with all-zero blocks left as holes, reported.
 */
int unpack_block(struct unpack *u, const void *p, size_t len, uint64_t off);

/*
 * The size the image file at fd decompresses to, read without decompressing
 * it (imgstore_size.c): 0 when the file states it (the index of each .xz
 * stream, the content size of each zstd frame, the file's own size when it
 * is not compressed), 1 for a gzip file's ISIZE (the size mod 2^32 of its
 * last member: a hint, kept only when deflate could have made the file from
 * it), -ENODATA when the format does not say (bzip2, zip, a zstd frame
 * without its size, a damaged file), or another negative errno.
 */
int imgstore_disk_size(int fd, uint64_t *ret_size);

/*
 * Decompress an .xz image with liblzma's multithreaded decoder
 * (imgstore_xz.c) through unpack_block(); 1 when in_fd does not hold .xz.
 */
int unpack_xz(struct unpack *u);

/* A note through o->note, formatted; nothing when there is no callback. */
void imgstore_note(void (*note)(void *, const char *), void *arg, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Seconds since start (CLOCK_MONOTONIC). */
double imgstore_elapsed(const struct timespec *start);

/* The URL without user information, for records and messages. */
int imgstore_url_public(const char *url, char **ret);

/* SHA-256 of the whole file open at fd; -ECANCELED when bramble is stopping (common/stop.h). */
int imgstore_hash_fd(int fd, char ret[SHA256_HEX_LEN + 1]);

/* Record the digest of a file:// url with the file's identity (urls/). */
int imgstore_record_write(int store_fd, const char *url, const struct stat *st, const char *digest);

/* len bytes at off of fd: 0, -EINVAL when the file is shorter, or another negative errno. */
int imgstore_read_exact(int fd, void *dst, size_t len, uint64_t off);

/* Whether partition p starts with a FAT boot sector (see imgstore_find_parts). */
bool imgstore_holds_fat(int fd, const struct imgfs_part *p);

/* What one extraction produced, for the notes and the entry's info file. */
struct extract_result {
	uint64_t disk_size;
	uint64_t boot_files, root_files, root_bytes, devices_skipped;
	uint64_t disk_usage; /* bytes on disk of boot/ and root/ */
	double unpack_s, boot_s, root_s;
	bool boot_early; /* the FAT was extracted while the rest was decompressed */
};

/*
 * Decompress the image file in_fd into dir_fd/disk.img, extract its boot
 * and root partitions into dir_fd/boot and dir_fd/root, and remove disk.img
 * again.  dir_fd is an empty staging directory that the caller removes on
 * failure.
 */
int imgstore_extract(int dir_fd, int in_fd, const struct imgstore_opts *o,
		     struct extract_result *res, struct buf *err);

/* Add the bytes on disk (links shared) and the non-directories of dir_fd/name. */
int imgstore_usage(int dir_fd, const char *name, uint64_t *bytes, uint64_t *files);

/* The store's subdirectories. */
#define DIR_SHA256    "sha256"
#define DIR_DOWNLOADS "downloads"
#define DIR_STAGING   "staging"
#define DIR_LOCKS     "locks"
#define DIR_TRASH     "trash"
#define DIR_FAILED    "failed"
#define ENTRY_INFO    "info"

/*
 * The record of an image that could not be extracted (imgstore_failed.c):
 * check returns -EINVAL with the recorded message in msg when there is one
 * for these options; record and forget never fail the caller.
 */
int imgstore_failed_check(int store_fd, const char *digest, const struct imgstore_opts *o,
			  struct buf *msg);
void imgstore_failed_record(int store_fd, const char *digest, const struct imgstore_opts *o,
			    const char *msg);
int imgstore_failed_forget(int store_fd, const char *digest);

/* Whether s is 64 lowercase hex digits. */
bool imgstore_is_digest(const char *s);

/*
 * Take the lock of a digest: waiting (-ECANCELED when bramble stops while it
 * waits), or -EWOULDBLOCK with nonblock.
 */
int imgstore_lock(int store_fd, const char *digest, bool nonblock, int *ret_fd);

#endif
