/*
 * imgfs_fat: FAT16/FAT32 extraction from a disk image with pread only.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "imgfs_fat.h"
#include "stop.h"

#define DIRENT_SIZE    32u
#define DIR_BYTES_MAX  (65536u * DIRENT_SIZE) /* the FAT limit of entries per directory */
#define FAT_BYTES_MAX  ((uint64_t)256 << 20)
#define CLUSTER_MAX    ((uint32_t)256 << 10)
#define DEPTH_HARD_MAX 256u
#define LFN_SLOTS_MAX  20u
#define LFN_UNITS      13u
#define NAME_BYTES_MAX 255u
#define ATTR_VOLUME    0x08
#define ATTR_DIR       0x10
#define ATTR_LFN       0x0f
#define ATTR_LFN_MASK  0x3f

struct fat {
	int img_fd;
	uint64_t offset, size;
	uint32_t bps, cluster_size, clusters, root_clus, root_len;
	int fat32;
	uint64_t fat_off, root_off, data_off;
	uint8_t *table;
	uint8_t *visited;
	uint8_t *cbuf;
	uint64_t bytes, entries;
	struct imgfs_fat_limits lim;
	struct buf *err;
	struct buf path;
	int failed;
};

struct lfn {
	uint16_t units[LFN_SLOTS_MAX * LFN_UNITS];
	unsigned slots, expect;
	uint8_t csum;
	int valid;
};

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Record the first error with the path it applies to; return r. */
__attribute__((format(printf, 3, 4))) static int fat_fail(struct fat *f, int r, const char *fmt,
							  ...)
{
	va_list ap;

	if (f->failed || f->err == NULL)
		return r;
	f->failed = 1;
	(void)buf_printf(f->err, "fat: /%s: ", buf_str(&f->path));
	va_start(ap, fmt);
	(void)buf_vprintf(f->err, fmt, ap);
	va_end(ap);
	return r;
}

/* Read len bytes at off inside the file system. */
static int fat_read(struct fat *f, void *dst, size_t len, uint64_t off)
{
	size_t done = 0;

	if (off > f->size || len > f->size - off)
		return fat_fail(f, -EINVAL, "read past the end of the file system");
	while (done < len) {
		ssize_t n = pread(f->img_fd, (uint8_t *)dst + done, len - done,
				  (off_t)(f->offset + off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fat_fail(f, -errno, "read error: %s", strerror(errno));
		if (n == 0)
			return fat_fail(f, -EINVAL, "image is truncated");
		done += (size_t)n;
	}
	return 0;
}

/* Check the BIOS parameter block against itself and the partition size. */
static int fat_geometry(struct fat *f, const uint8_t *bs)
{
	uint32_t bps = le16(bs + 11), spc = bs[13], rsvd = le16(bs + 14), nfats = bs[16];
	uint32_t root_ent = le16(bs + 17), fatsz = le16(bs + 22);
	uint64_t total = le16(bs + 19) ? le16(bs + 19) : le32(bs + 32);
	uint64_t root_secs, meta, entsize;

	if (bs[510] != 0x55 || bs[511] != 0xaa)
		return fat_fail(f, -EINVAL, "bad boot sector signature");
	if (bps < 512 || bps > 4096 || (bps & (bps - 1)) || spc == 0 || (spc & (spc - 1)) ||
	    bps * spc > CLUSTER_MAX || rsvd == 0 || nfats == 0 || nfats > 4)
		return fat_fail(f, -EINVAL, "absurd boot sector geometry");
	f->fat32 = fatsz == 0;
	if (f->fat32)
		fatsz = le32(bs + 36);
	root_secs = ((uint64_t)root_ent * DIRENT_SIZE + bps - 1) / bps;
	meta = rsvd + (uint64_t)nfats * fatsz + root_secs;
	if (fatsz == 0 || (f->fat32 && root_ent != 0) || meta >= total)
		return fat_fail(f, -EINVAL, "absurd boot sector geometry");
	if (total * bps > f->size)
		return fat_fail(f, -EINVAL, "file system extends past the end of the partition");
	f->bps = bps;
	f->cluster_size = bps * spc;
	f->clusters = (uint32_t)((total - meta) / spc);
	if (!f->fat32 && f->clusters < 4085)
		return fat_fail(f, -EOPNOTSUPP, "FAT12 is not supported");
	if (f->clusters + (uint64_t)2 > (f->fat32 ? 0x0ffffff7u : 0xfff7u))
		return fat_fail(f, -EINVAL, "too many clusters for the FAT type");
	entsize = f->fat32 ? 4 : 2;
	if ((uint64_t)fatsz * bps < (f->clusters + (uint64_t)2) * entsize)
		return fat_fail(f, -EINVAL, "FAT is too small for the cluster count");
	f->fat_off = (uint64_t)rsvd * bps;
	f->root_off = (rsvd + (uint64_t)nfats * fatsz) * bps;
	f->root_len = root_ent * DIRENT_SIZE;
	f->data_off = meta * bps;
	f->root_clus = f->fat32 ? le32(bs + 44) : 0;
	return 0;
}

/* Read the boot sector and load the first FAT and the visited bitmap. */
static int fat_open(struct fat *f)
{
	uint8_t bs[512];
	uint64_t len;
	int r;

	r = fat_read(f, bs, sizeof(bs), 0);
	if (r < 0)
		return r;
	r = fat_geometry(f, bs);
	if (r < 0)
		return r;
	len = (f->clusters + (uint64_t)2) * (f->fat32 ? 4 : 2);
	if (len > FAT_BYTES_MAX)
		return fat_fail(f, -EINVAL, "FAT is absurdly large");
	f->table = malloc(len);
	f->visited = calloc(f->clusters / 8 + 1, 1);
	f->cbuf = malloc(f->cluster_size);
	if (f->table == NULL || f->visited == NULL || f->cbuf == NULL)
		return fat_fail(f, -ENOMEM, "out of memory");
	return fat_read(f, f->table, len, f->fat_off);
}

/* Mark a cluster as used; a second use means a loop or a cross-link. */
static int cluster_claim(struct fat *f, uint32_t c)
{
	uint32_t i;

	if (c < 2 || c - 2 >= f->clusters)
		return fat_fail(f, -EINVAL, "cluster %u is out of range", c);
	i = c - 2;
	if (f->visited[i / 8] & (1u << (i % 8)))
		return fat_fail(f, -EINVAL, "cluster %u is used twice (a loop or cross-link)", c);
	f->visited[i / 8] |= (uint8_t)(1u << (i % 8));
	return 0;
}

/* Claim cluster c and read its first len bytes into f->cbuf. */
static int cluster_read(struct fat *f, uint32_t c, size_t len)
{
	int r = cluster_claim(f, c);

	if (r < 0)
		return r;
	return fat_read(f, f->cbuf, len, f->data_off + (uint64_t)(c - 2) * f->cluster_size);
}

/* The cluster after c in its chain, or 0 at the end of the chain. */
static int cluster_next(struct fat *f, uint32_t c, uint32_t *ret_next)
{
	uint32_t v, eoc;

	if (f->fat32) {
		v = le32(f->table + (uint64_t)c * 4) & 0x0fffffffu;
		eoc = 0x0ffffff8u;
	} else {
		v = le16(f->table + (uint64_t)c * 2);
		eoc = 0xfff8u;
	}
	if (v >= eoc) {
		*ret_next = 0;
		return 0;
	}
	if (v < 2 || v - 2 >= f->clusters)
		return fat_fail(f, -EINVAL, "cluster chain points to bad cluster %u", v);
	*ret_next = v;
	return 0;
}

/* Copy size bytes of the chain that starts at c into fd. */
static int chain_copy(struct fat *f, uint32_t c, uint64_t size, int fd)
{
	while (size > 0) {
		size_t n = size < f->cluster_size ? (size_t)size : f->cluster_size;
		int r;

		if (c == 0)
			return fat_fail(f, -EINVAL, "cluster chain is shorter than the file");
		r = cluster_read(f, c, n);
		if (r < 0)
			return r;
		r = write_all(fd, f->cbuf, n);
		if (r < 0)
			return fat_fail(f, r, "write error: %s", strerror(-r));
		size -= n;
		if (size > 0) {
			r = cluster_next(f, c, &c);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

/* Load a whole directory (a chain, or the FAT16 root when c is 0). */
static int dir_load(struct fat *f, uint32_t c, struct buf *ret)
{
	int r;

	buf_set_max(ret, DIR_BYTES_MAX);
	if (c == 0 && !f->fat32) {
		r = buf_grow(ret, f->root_len);
		if (r < 0)
			return fat_fail(f, r, "out of memory");
		r = fat_read(f, ret->data, f->root_len, f->root_off);
		ret->len = f->root_len;
		return r;
	}
	if (c == 0)
		return fat_fail(f, -EINVAL, "directory has no cluster");
	while (c != 0) {
		r = cluster_read(f, c, f->cluster_size);
		if (r < 0)
			return r;
		r = buf_add(ret, f->cbuf, f->cluster_size);
		if (r == -E2BIG)
			return fat_fail(f, -EINVAL, "directory is absurdly large");
		if (r < 0)
			return fat_fail(f, r, "out of memory");
		r = cluster_next(f, c, &c);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Collect one VFAT long name slot; a broken sequence just drops the long name. */
static void lfn_add(struct lfn *l, const uint8_t *e)
{
	static const uint8_t offs[LFN_UNITS] = {1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30};
	unsigned seq = e[0] & 0x3f;

	if (e[0] & 0x40) {
		l->valid = seq >= 1 && seq <= LFN_SLOTS_MAX;
		l->slots = seq;
		l->csum = e[13];
	} else if (!l->valid || seq != l->expect - 1 || e[13] != l->csum) {
		l->valid = 0;
	}
	if (!l->valid)
		return;
	l->expect = seq;
	for (unsigned k = 0; k < LFN_UNITS; k++)
		l->units[(seq - 1) * LFN_UNITS + k] = le16(e + offs[k]);
}

static uint8_t short_csum(const uint8_t *e)
{
	uint8_t sum = 0;

	for (unsigned i = 0; i < 11; i++)
		sum = (uint8_t)(((sum & 1) << 7) + (sum >> 1) + e[i]);
	return sum;
}

/* Append code point cp as UTF-8; names are limited to NAME_BYTES_MAX bytes. */
static int utf8_put(char *out, size_t *len, uint32_t cp)
{
	uint8_t b[4];
	size_t n;

	if (cp < 0x80) {
		b[0] = (uint8_t)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (uint8_t)(0xc0 | cp >> 6);
		b[1] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (uint8_t)(0xe0 | cp >> 12);
		b[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		b[0] = (uint8_t)(0xf0 | cp >> 18);
		b[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 4;
	}
	if (*len + n > NAME_BYTES_MAX)
		return -ENAMETOOLONG;
	memcpy(out + *len, b, n);
	*len += n;
	return 0;
}

/* Decode the collected UTF-16 long name into out (NUL-terminated UTF-8). */
static int lfn_name(const struct lfn *l, char *out)
{
	size_t len = 0, n = l->slots * LFN_UNITS;

	for (size_t i = 0; i < n && l->units[i] != 0; i++) {
		uint32_t cp = l->units[i];
		int r;

		if (cp >= 0xdc00 && cp < 0xe000)
			return -EILSEQ;
		if (cp >= 0xd800 && cp < 0xdc00) {
			if (i + 1 >= n || l->units[i + 1] < 0xdc00 || l->units[i + 1] >= 0xe000)
				return -EILSEQ;
			cp = 0x10000 + ((cp - 0xd800) << 10) + (l->units[++i] - 0xdc00u);
		}
		r = utf8_put(out, &len, cp);
		if (r < 0)
			return r;
	}
	out[len] = '\0';
	return 0;
}

/* Append the space-padded 8.3 field e[from..to) to out, lower-cased when asked. */
static int short_part(const uint8_t *e, unsigned from, unsigned to, int lower, char *out,
		      size_t *len)
{
	while (to > from && e[to - 1] == ' ')
		to--;
	for (unsigned i = from; i < to; i++) {
		uint8_t ch = (i == 0 && e[0] == 0x05) ? 0xe5 : e[i];

		if (ch >= 0x80)
			return -EILSEQ;
		out[(*len)++] = (char)(lower && ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
	}
	return 0;
}

/* The 8.3 name with the NT lower-case flags applied; ASCII only. */
static int short_name(const uint8_t *e, char *out)
{
	size_t len = 0;
	int r;

	r = short_part(e, 0, 8, (e[12] & 0x08) != 0, out, &len);
	if (r == 0 && memcmp(e + 8, "   ", 3) != 0) {
		out[len++] = '.';
		r = short_part(e, 8, 11, (e[12] & 0x10) != 0, out, &len);
	}
	out[len] = '\0';
	return r;
}

/* A name must be one path component: not empty, ".", "..", nor hold '/' or controls. */
static int name_check(const char *name)
{
	if (name[0] == '\0' || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return -EINVAL;
	for (const char *p = name; *p != '\0'; p++) {
		if (*p == '/' || (unsigned char)*p < 0x20)
			return -EINVAL;
	}
	return 0;
}

/* Set atime and mtime from the entry's write date and time (read as UTC). */
static int set_mtime(int fd, const uint8_t *e)
{
	uint16_t t = le16(e + 22), d = le16(e + 24);
	struct tm tm = {0};
	struct timespec ts[2];

	tm.tm_year = (d >> 9) + 80;
	tm.tm_mon = ((d >> 5) & 15) - 1;
	tm.tm_mday = d & 31;
	tm.tm_hour = t >> 11;
	tm.tm_min = (t >> 5) & 63;
	tm.tm_sec = (t & 31) * 2;
	if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday == 0 || tm.tm_hour > 23 ||
	    tm.tm_min > 59 || tm.tm_sec > 59)
		return 0;
	ts[0].tv_sec = timegm(&tm);
	ts[0].tv_nsec = 0;
	ts[1] = ts[0];
	if (futimens(fd, ts) < 0)
		return -errno;
	return 0;
}

/* The entry's name: its long name when the checksum ties it to e, else the 8.3 name. */
static int entry_name(struct fat *f, struct lfn *l, const uint8_t *e, char *name)
{
	int r;

	if (l->valid && l->expect == 1 && l->csum == short_csum(e))
		r = lfn_name(l, name);
	else
		r = short_name(e, name);
	l->valid = 0;
	if (r == 0)
		r = name_check(name);
	if (r < 0)
		return fat_fail(f, -EINVAL, "bad file name in directory");
	return 0;
}

static uint32_t entry_cluster(const struct fat *f, const uint8_t *e)
{
	return (f->fat32 ? (uint32_t)le16(e + 20) << 16 : 0) | le16(e + 26);
}

/* Create name in dir_fd and copy the file's content into it. */
static int file_extract(struct fat *f, int dir_fd, const char *name, const uint8_t *e)
{
	uint64_t size = le32(e + 28);
	int fd = -1, r;

	if (size > f->lim.max_bytes - f->bytes) {
		r = fat_fail(f, -EFBIG, "extraction exceeds the limit of %llu bytes",
			     (unsigned long long)f->lim.max_bytes);
		goto out;
	}
	f->bytes += size;
	fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = fat_fail(f, -errno, "cannot create: %s", strerror(errno));
		goto out;
	}
	r = chain_copy(f, entry_cluster(f, e), size, fd);
	if (r == 0)
		r = set_mtime(fd, e);
	if (r < 0)
		r = fat_fail(f, r, "cannot write: %s", strerror(-r));
out:
	/* A write-back error shows at close at the latest: the file is not what was read. */
	if (fd >= 0 && close(fd) < 0 && r == 0)
		r = fat_fail(f, -errno, "cannot write: %s", strerror(errno));
	return r;
}

static int dir_extract(struct fat *f, int dir_fd, uint32_t c, unsigned depth);

/* Create the directory name in dir_fd and extract the subtree into it. */
static int subdir_extract(struct fat *f, int dir_fd, const char *name, const uint8_t *e,
			  unsigned depth)
{
	int fd = -1, r;

	if (depth + 1 > f->lim.max_depth) {
		r = fat_fail(f, -ELOOP, "directories nested deeper than %u", f->lim.max_depth);
		goto out;
	}
	if (mkdirat(dir_fd, name, 0755) < 0) {
		r = fat_fail(f, -errno, "cannot create directory: %s", strerror(errno));
		goto out;
	}
	fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		r = fat_fail(f, -errno, "cannot open directory: %s", strerror(errno));
		goto out;
	}
	r = dir_extract(f, fd, entry_cluster(f, e), depth + 1);
	if (r == 0)
		r = set_mtime(fd, e);
	if (r < 0)
		r = fat_fail(f, r, "cannot set time: %s", strerror(-r));
out:
	if (fd >= 0)
		close(fd);
	return r;
}

/* Handle one short entry (with its long name collected in l). */
static int entry_extract(struct fat *f, int dir_fd, struct lfn *l, const uint8_t *e, unsigned depth)
{
	char name[NAME_BYTES_MAX + 1];
	size_t mark = f->path.len;
	int r;

	if (stop_requested()) /* the daemon's SIGTERM: the staging is removed next time */
		return fat_fail(f, -ECANCELED, "the extraction stopped (bramble is stopping)");
	if (memcmp(e, ".          ", 11) == 0 || memcmp(e, "..         ", 11) == 0) {
		l->valid = 0;
		return 0;
	}
	r = entry_name(f, l, e, name);
	if (r < 0)
		return r;
	if (++f->entries > f->lim.max_entries)
		return fat_fail(f, -E2BIG, "more than %llu entries",
				(unsigned long long)f->lim.max_entries);
	if (mark > 0)
		(void)buf_addch(&f->path, '/');
	(void)buf_adds(&f->path, name);
	if (e[11] & ATTR_DIR)
		r = subdir_extract(f, dir_fd, name, e, depth);
	else
		r = file_extract(f, dir_fd, name, e);
	buf_truncate(&f->path, mark);
	return r;
}

/* Extract the directory whose chain starts at c (0: the FAT16 root) into dir_fd. */
static int dir_extract(struct fat *f, int dir_fd, uint32_t c, unsigned depth)
{
	struct buf data = BUF_INIT;
	struct lfn *l = NULL;
	int r;

	l = calloc(1, sizeof(*l));
	if (l == NULL) {
		r = fat_fail(f, -ENOMEM, "out of memory");
		goto out;
	}
	r = dir_load(f, c, &data);
	for (size_t off = 0; r == 0 && off + DIRENT_SIZE <= data.len; off += DIRENT_SIZE) {
		const uint8_t *e = (const uint8_t *)data.data + off;

		if (e[0] == 0x00)
			break;
		if (e[0] == 0xe5)
			l->valid = 0;
		else if ((e[11] & ATTR_LFN_MASK) == ATTR_LFN)
			lfn_add(l, e);
		else if (e[11] & ATTR_VOLUME)
			l->valid = 0;
		else
			r = entry_extract(f, dir_fd, l, e, depth);
	}
out:
	free(l);
	buf_release(&data);
	return r;
}

/* Extract the whole FAT tree at offset of img_fd into dir_fd. */
int imgfs_fat_extract(int img_fd, uint64_t offset, uint64_t size, int dir_fd,
		      const struct imgfs_fat_limits *limits, struct buf *err)
{
	struct fat f = {0};
	int r;

	f.img_fd = img_fd;
	f.offset = offset;
	f.size = size;
	f.err = err;
	f.lim = *limits;
	if (f.lim.max_depth == 0)
		f.lim.max_depth = IMGFS_FAT_DEPTH_DEFAULT;
	if (f.lim.max_depth > DEPTH_HARD_MAX)
		f.lim.max_depth = DEPTH_HARD_MAX;
	if (f.lim.max_entries == 0)
		f.lim.max_entries = IMGFS_FAT_ENTRIES_DEFAULT;
	buf_set_max(&f.path, (size_t)DEPTH_HARD_MAX * (NAME_BYTES_MAX + 1));
	r = fat_open(&f);
	if (r < 0)
		goto out;
	r = dir_extract(&f, dir_fd, f.fat32 ? f.root_clus : 0, 0);
out:
	free(f.table);
	free(f.visited);
	free(f.cbuf);
	buf_release(&f.path);
	return r;
}
