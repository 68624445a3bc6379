/*
 * imgstore_size: the size an image file decompresses to, read from the file
 * before it is decompressed, so that the decompression's progress has a
 * total: the index of every .xz stream, the content sizes of every zstd
 * frame, a gzip member's ISIZE, or the file itself when it is not
 * compressed.  Only reads (pread): the decompression reads the file again
 * from its start.
 */
#include <errno.h>
#include <lzma.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "imgstore_int.h"

#define XZ_STREAMS_MAX	  4096u
#define XZ_PADDING_MAX	  ((uint64_t)1 << 20)
#define XZ_INDEX_MAX	  ((uint64_t)16 << 20) /* about a million blocks */
#define XZ_INDEX_MEM	  ((uint64_t)64 << 20)
#define ZSTD_BLOCKS_MAX	  (1u << 21) /* 256 GiB in full 128 KiB blocks */
#define ZSTD_MAGIC	  0xfd2fb528u
#define ZSTD_SKIP_MAGIC	  0x184d2a50u /* the low 4 bits are free */
#define GZIP_RATIO_MAX	  1032u	      /* deflate's best ratio */
#define GZIP_FLAG_EXTRA	  0x04u	      /* bgzip and other multi-member writers */
#define GZIP_MEMBER_BYTES 18u	      /* header and trailer of the smallest member */

/* A read past the end is a damaged file: its size is not known. */
static int pread_all(int fd, void *p, size_t len, uint64_t off)
{
	int r = imgstore_read_exact(fd, p, len, off);

	return r == -EINVAL ? -ENODATA : r;
}

static uint32_t rd_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd_le(const unsigned char *p, unsigned n)
{
	uint64_t v = 0;

	while (n-- > 0)
		v = v << 8 | p[n];
	return v;
}

/* Skip the stream padding (zeros, a multiple of 4) that ends at *pos. */
static int xz_skip_padding(int fd, uint64_t *pos)
{
	unsigned char b[4];
	uint64_t skipped = 0;
	int r;

	while (*pos >= 4 && skipped <= XZ_PADDING_MAX) {
		r = pread_all(fd, b, sizeof(b), *pos - 4);
		if (r < 0)
			return r;
		if (rd_le32(b) != 0)
			return 0;
		*pos -= 4;
		skipped += 4;
	}
	return -ENODATA;
}

/* The .xz stream that ends at *pos: its uncompressed size; *pos goes to its start. */
static int xz_stream(int fd, uint64_t *pos, uint64_t *ret_size)
{
	unsigned char footer[LZMA_STREAM_HEADER_SIZE], *index = NULL;
	uint64_t memlimit = XZ_INDEX_MEM, stream;
	lzma_stream_flags flags;
	lzma_index *idx = NULL;
	size_t in_pos = 0;
	int r;

	if (*pos < 2 * LZMA_STREAM_HEADER_SIZE)
		return -ENODATA;
	r = pread_all(fd, footer, sizeof(footer), *pos - sizeof(footer));
	if (r < 0)
		return r;
	if (lzma_stream_footer_decode(&flags, footer) != LZMA_OK ||
	    flags.backward_size > XZ_INDEX_MAX ||
	    flags.backward_size + 2 * LZMA_STREAM_HEADER_SIZE > *pos)
		return -ENODATA;
	index = malloc(flags.backward_size);
	if (!index)
		return -ENOMEM;
	r = pread_all(fd, index, flags.backward_size,
		      *pos - LZMA_STREAM_HEADER_SIZE - flags.backward_size);
	if (r == 0 && lzma_index_buffer_decode(&idx, &memlimit, NULL, index, &in_pos,
					       flags.backward_size) != LZMA_OK)
		r = -ENODATA;
	free(index);
	if (r < 0)
		return r;
	stream = lzma_index_stream_size(idx);
	*ret_size = lzma_index_uncompressed_size(idx);
	lzma_index_end(idx, NULL);
	if (stream > *pos)
		return -ENODATA;
	*pos -= stream;
	return 0;
}

/* Every stream of an .xz file, from its end (a file may hold several, padded). */
static int xz_size(int fd, uint64_t file_size, uint64_t *ret_size)
{
	uint64_t pos = file_size, total = 0, one;
	unsigned streams;
	int r;

	for (streams = 0; pos > 0; streams++) {
		if (streams == XZ_STREAMS_MAX)
			return -ENODATA;
		r = xz_skip_padding(fd, &pos);
		if (r == 0)
			r = xz_stream(fd, &pos, &one);
		if (r < 0)
			return r;
		if (one > UINT64_MAX - total)
			return -ENODATA;
		total += one;
	}
	*ret_size = total;
	return 0;
}

/*
 * The frame header at *pos: its content size (none: -ENODATA) and whether
 * the frame ends with a checksum; *pos goes past the header.
 */
static int zstd_header(int fd, uint64_t *pos, uint64_t *ret_size, bool *ret_checksum)
{
	static const unsigned did_len[4] = {0, 1, 2, 4}, fcs_len[4] = {0, 2, 4, 8};
	unsigned char h[1 + 1 + 4 + 8];
	unsigned fhd, single, n_fcs, at;
	int r;

	r = pread_all(fd, h, 1, *pos);
	if (r < 0)
		return r;
	fhd = h[0];
	single = (fhd >> 5) & 1;
	n_fcs = fcs_len[fhd >> 6] ? fcs_len[fhd >> 6] : single;
	if (n_fcs == 0 || (fhd & 0x08)) /* no size, or the reserved bit */
		return -ENODATA;
	at = 1 + !single + did_len[fhd & 3];
	r = pread_all(fd, h, at + n_fcs, *pos);
	if (r < 0)
		return r;
	*ret_size = rd_le(h + at, n_fcs) + (n_fcs == 2 ? 256 : 0);
	*ret_checksum = (fhd >> 2) & 1;
	*pos += at + n_fcs;
	return 0;
}

/* Walk the blocks of the frame whose blocks start at *pos; *pos goes past them. */
static int zstd_blocks(int fd, uint64_t file_size, uint64_t *pos, unsigned *blocks)
{
	unsigned char b[3];
	uint32_t v;
	int r;

	do {
		if (++*blocks > ZSTD_BLOCKS_MAX)
			return -ENODATA;
		r = pread_all(fd, b, sizeof(b), *pos);
		if (r < 0)
			return r;
		v = (uint32_t)rd_le(b, 3);
		if (((v >> 1) & 3) == 3) /* reserved block type */
			return -ENODATA;
		*pos += 3 + (((v >> 1) & 3) == 1 ? 1 : v >> 3); /* an RLE block: one byte */
		if (*pos > file_size)
			return -ENODATA;
	} while (!(v & 1));
	return 0;
}

/* Every frame of a zstd file, each of which must state its content size. */
static int zstd_size(int fd, uint64_t file_size, uint64_t *ret_size)
{
	uint64_t pos = 0, total = 0, one;
	unsigned char m[8];
	unsigned blocks = 0;
	bool checksum;
	int r;

	while (pos < file_size) {
		r = pread_all(fd, m, sizeof(m), pos);
		if (r < 0)
			return r;
		if ((rd_le32(m) & ~0xfu) == ZSTD_SKIP_MAGIC) {
			pos += 8 + rd_le32(m + 4);
			continue;
		}
		if (rd_le32(m) != ZSTD_MAGIC)
			return -ENODATA;
		pos += 4;
		r = zstd_header(fd, &pos, &one, &checksum);
		if (r == 0)
			r = zstd_blocks(fd, file_size, &pos, &blocks);
		if (r < 0)
			return r;
		pos += checksum ? 4 : 0;
		if (one > UINT64_MAX - total)
			return -ENODATA;
		total += one;
	}
	if (pos != file_size)
		return -ENODATA;
	*ret_size = total;
	return 0;
}

/*
 * A gzip file's ISIZE (its last four bytes): the last member's size mod
 * 2^32, so only a hint: one that deflate could not have produced from this
 * many bytes, or a header with an extra field (bgzip writes many members),
 * is no size at all.
 */
static int gzip_size(int fd, const unsigned char *head, uint64_t file_size, uint64_t *ret_size)
{
	unsigned char t[4];
	uint64_t isize;
	int r;

	if (file_size < GZIP_MEMBER_BYTES || (head[3] & GZIP_FLAG_EXTRA))
		return -ENODATA;
	r = pread_all(fd, t, sizeof(t), file_size - 4);
	if (r < 0)
		return r;
	isize = rd_le32(t);
	if (isize == 0 || isize < (file_size - GZIP_MEMBER_BYTES) / GZIP_RATIO_MAX)
		return -ENODATA;
	*ret_size = isize;
	return 1;
}

int imgstore_disk_size(int fd, uint64_t *ret_size)
{
	static const unsigned char xz[6] = {0xfd, '7', 'z', 'X', 'Z', 0x00};
	unsigned char head[8] = {0};
	uint64_t size = 0;
	struct stat st;
	ssize_t n;
	int r;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -ENODATA;
	do
		n = pread(fd, head, sizeof(head), 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (memcmp(head, xz, sizeof(xz)) == 0)
		r = xz_size(fd, (uint64_t)st.st_size, &size);
	else if (rd_le32(head) == ZSTD_MAGIC || (rd_le32(head) & ~0xfu) == ZSTD_SKIP_MAGIC)
		r = zstd_size(fd, (uint64_t)st.st_size, &size);
	else if (head[0] == 0x1f && head[1] == 0x8b)
		r = gzip_size(fd, head, (uint64_t)st.st_size, &size);
	else if (memcmp(head, "BZh", 3) == 0 || memcmp(head, "PK\3\4", 4) == 0 ||
		 memcmp(head, "LZIP", 4) == 0 || head[0] == 0x5d) /* bzip2, zip, lzip, lzma */
		r = -ENODATA;
	else { /* libarchive's raw format: the disk itself */
		r = 0;
		size = (uint64_t)st.st_size;
	}
	if (r >= 0)
		*ret_size = size;
	return r;
}
