/*
 * imgstore_unpack: an image file (xz, zstd, gzip, bzip2, a .zip holding one
 * *.img, or a plain image) decompressed into a sparse raw disk: .xz with
 * liblzma's multithreaded decoder (imgstore_xz.c), everything else with
 * libarchive.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "download.h"
#include "heartbeat.h"
#include "imgstore_int.h"
#include "stop.h"

#define READ_BLOCK ((size_t)1 << 20)
#define HOLE_BLOCK ((size_t)4096)

/* The libarchive handle of a decompression that is not .xz. */
static struct archive *ar(const struct unpack *u)
{
	return u->arch;
}

static bool all_zero(const unsigned char *p, size_t n)
{
	size_t head = n < 16 ? n : 16, i;

	for (i = 0; i < head; i++)
		if (p[i])
			return false;
	return n <= 16 || memcmp(p, p + 16, n - 16) == 0;
}

static int pwrite_all(int fd, const unsigned char *p, size_t len, uint64_t off)
{
	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* The length of the next HOLE_BLOCK-aligned piece of [off, off + len). */
static size_t piece(uint64_t off, size_t len)
{
	size_t n = HOLE_BLOCK - (size_t)(off % HOLE_BLOCK);

	return n < len ? n : len;
}

/*
 * Write len bytes that belong at disk offset off, skipping every aligned
 * all-zero block so that zeros cost no disk space; runs of data are written
 * with one pwrite each.
 */
static int sparse_write(struct unpack *u, const unsigned char *p, size_t len, uint64_t off)
{
	size_t i = 0;
	int r;

	while (i < len) {
		size_t n = piece(off + i, len - i), start;

		if (all_zero(p + i, n)) {
			i += n;
			continue;
		}
		start = i;
		for (i += n; i < len; i += n) {
			n = piece(off + i, len - i);
			if (all_zero(p + i, n))
				break;
		}
		r = pwrite_all(u->out_fd, p + start, i - start, off + start);
		if (r < 0) {
			buf_printf(u->err, "cannot write the raw disk: %s", strerror(-r));
			return r;
		}
		if (off + i > u->file_len)
			u->file_len = off + i;
	}
	return 0;
}

/* A libarchive failure as a negative errno, with its text in err. */
static int archive_fail(struct unpack *u, const char *what)
{
	const char *s = archive_error_string(ar(u));
	int e = archive_errno(ar(u));

	buf_printf(u->err, "%s: %s", what, s ? s : "unknown error");
	if (e == ENOMEM || e == EIO || e == ENOSPC || e == EROFS)
		return -e;
	return -EINVAL;
}

static bool is_zip(struct archive *a)
{
	return (archive_format(a) & ARCHIVE_FORMAT_BASE_MASK) == ARCHIVE_FORMAT_ZIP;
}

static bool img_name(struct archive_entry *e)
{
	const char *name = archive_entry_pathname(e);
	size_t len = name ? strlen(name) : 0;

	return archive_entry_filetype(e) == AE_IFREG && len > 4 &&
	       strcasecmp(name + len - 4, ".img") == 0;
}

/*
 * Move to the entry that holds the disk: the only entry of a compressed or
 * plain image (libarchive's raw format), or the *.img entry of a zip.
 */
static int next_disk_entry(struct unpack *u, struct archive_entry **ret)
{
	int r;

	for (;;) {
		r = archive_read_next_header(ar(u), ret);
		if (r == ARCHIVE_EOF) {
			buf_adds(u->err, is_zip(ar(u)) ? "the zip archive holds no .img file"
						       : "the image file is empty");
			return -EINVAL;
		}
		if (r < ARCHIVE_WARN)
			return archive_fail(u, "cannot read the image file");
		if (!is_zip(ar(u)) || img_name(*ret))
			return 0;
	}
}

/* A zip must hold one disk only: which one would be meant is not clear. */
static int zip_check_rest(struct unpack *u, const char *first)
{
	struct archive_entry *e;
	int r;

	for (;;) {
		r = archive_read_next_header(ar(u), &e);
		if (r == ARCHIVE_EOF)
			return 0;
		if (r < ARCHIVE_WARN)
			return archive_fail(u, "cannot read the zip archive");
		if (img_name(e)) {
			buf_printf(u->err,
				   "the zip archive holds more than one .img file (\"%s\", \"%s\")",
				   first, archive_entry_pathname(e));
			return -EINVAL;
		}
	}
}

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/*
 * The disk's size as its MBR says (the end of its last partition; a GPT's
 * protective entry spans the disk): the decompression's estimated total,
 * known from the first sector whatever the format.  0: no partition table.
 */
static uint64_t mbr_end(const unsigned char *b)
{
	uint64_t end = 0;
	int i;

	if (b[510] != 0x55 || b[511] != 0xaa)
		return 0;
	for (i = 0; i < 4; i++) {
		const unsigned char *e = b + 446 + 16 * i;
		uint64_t first = le32(e + 8), n = le32(e + 12);

		if (e[4] && n && first + n > end)
			end = first + n;
	}
	return end * 512;
}

/*
 * "decompress": the disk so far, of the size the image file states (exact),
 * else of the partition table's (an estimate, shown with "~").  A gzip
 * ISIZE below the table's end is the size mod 2^32 (a disk over 4 GiB) or
 * another member's, and a stated size the disk outgrows was wrong: either
 * gives way to the estimate.
 */
static void meter(struct unpack *u, const void *p, size_t len, uint64_t off)
{
	struct progress pr = {.step = "decompress"};

	if (!u->c->meter)
		return;
	if (off == 0 && len >= 512 && !u->estimate) {
		u->estimate = mbr_end(p);
		if (u->total_hint && u->estimate > u->total)
			u->total = 0;
	}
	if (u->done > u->total)
		u->total = 0;
	pr.done = u->done;
	pr.total = u->total ? u->total : u->estimate;
	pr.estimate = u->total == 0;
	progress_report(u->c->meter, &pr);
}

/* Tell the caller how much of the disk is final; the file must be that long. */
static int report(struct unpack *u)
{
	if (!u->c->progress)
		return 0;
	if (u->file_len < u->done) {
		if (ftruncate(u->out_fd, (off_t)u->done) < 0)
			return -errno;
		u->file_len = u->done;
	}
	return u->c->progress(u->c->progress_arg, u->done);
}

int unpack_block(struct unpack *u, const void *p, size_t len, uint64_t off)
{
	int r;

	if (stop_requested()) { /* the daemon's SIGTERM: the next start begins again */
		buf_adds(u->err, "the image's extraction stopped (bramble is stopping)");
		return -ECANCELED;
	}
	heartbeat();
	if (off > u->max || len > u->max - off) {
		buf_printf(u->err,
			   "the decompressed image is larger than the limit (%llu MiB; "
			   "images.maxSize)",
			   (unsigned long long)(u->max / MIB));
		return -EFBIG;
	}
	r = sparse_write(u, p, len, off);
	if (r < 0)
		return r;
	if (off + len > u->done)
		u->done = off + len;
	r = report(u);
	if (r == 0)
		meter(u, p, len, off);
	return r;
}

static int copy_blocks(struct unpack *u)
{
	const void *p;
	size_t len;
	int64_t off;
	int r;

	for (;;) {
		r = archive_read_data_block(ar(u), &p, &len, &off);
		if (r == ARCHIVE_EOF)
			return 0;
		if (r < ARCHIVE_WARN)
			return archive_fail(u,
					    "cannot decompress the image (truncated or corrupt?)");
		r = off < 0 ? -EINVAL : unpack_block(u, p, len, (uint64_t)off);
		if (r < 0)
			return r;
	}
}

/*
 * The filters are named rather than all enabled: libarchive runs external
 * programs for some formats (lrzip, lzop, grzip), and an image file must
 * never choose what bramble executes.
 */
static int archive_setup(struct archive *a, int in_fd)
{
	if (archive_read_support_filter_gzip(a) != ARCHIVE_OK ||
	    archive_read_support_filter_xz(a) != ARCHIVE_OK ||
	    archive_read_support_filter_zstd(a) != ARCHIVE_OK ||
	    archive_read_support_filter_bzip2(a) != ARCHIVE_OK ||
	    archive_read_support_format_zip(a) != ARCHIVE_OK ||
	    archive_read_support_format_raw(a) != ARCHIVE_OK)
		return -1;
	return archive_read_open_fd(a, in_fd, READ_BLOCK) == ARCHIVE_OK ? 0 : -1;
}

static int unpack_entry(struct unpack *u)
{
	struct archive_entry *e = NULL;
	char *name = NULL;
	int r;

	if (archive_setup(ar(u), u->in_fd) < 0)
		return archive_fail(u, "cannot open the image file");
	r = next_disk_entry(u, &e);
	if (r < 0)
		return r;
	if (is_zip(ar(u))) {
		name = strdup(archive_entry_pathname(e));
		if (!name)
			return -ENOMEM;
	}
	r = copy_blocks(u);
	if (r == 0 && name)
		r = zip_check_rest(u, name);
	free(name);
	return r;
}

int unpack_run(int in_fd, int out_fd, const struct unpack_ctl *c, uint64_t *ret_size,
	       struct buf *err)
{
	struct unpack u;
	int r;

	memset(&u, 0, sizeof(u));
	u.in_fd = in_fd;
	u.out_fd = out_fd;
	u.c = c;
	u.max = c->max_size ? c->max_size : IMGSTORE_MAX_SIZE_DEFAULT;
	u.err = err;
	r = c->meter ? imgstore_disk_size(in_fd, &u.total) : -ENODATA;
	u.total_hint = r == 1;
	if (r < 0)
		u.total = 0;
	r = unpack_xz(&u);
	if (r == 1) {
		u.arch = archive_read_new();
		if (!u.arch)
			return -ENOMEM;
		r = unpack_entry(&u);
		archive_read_free(u.arch);
	}
	if (r == 0 && ftruncate(out_fd, (off_t)u.done) < 0)
		r = -errno;
	if (r == 0)
		*ret_size = u.done;
	return r;
}

int imgstore_unpack(int in_fd, int out_fd, const struct imgstore_opts *o, uint64_t *ret_size,
		    struct buf *err)
{
	struct unpack_ctl c;

	memset(&c, 0, sizeof(c));
	if (o) {
		c.max_size = o->max_size;
		c.note = o->note;
		c.note_arg = o->note_arg;
	}
	return unpack_run(in_fd, out_fd, &c, ret_size, err);
}
