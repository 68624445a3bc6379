/*
 * imgstore_xz: .xz images decompressed with liblzma's multithreaded
 * decoder.  libarchive decodes xz on one core; an .img.xz made by
 * `xz -T` (as Raspberry Pi OS's are) holds many independent blocks with
 * their sizes, which liblzma decodes on every core, and the decompression is
 * most of the time an image takes to come in (docs/benchmarks.md, "Images").
 * A stream of one block, or without sizes, is decoded on one thread, as
 * libarchive would.  The integrity check of every block is verified.
 */
#include <errno.h>
#include <lzma.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imgstore_int.h"

#define XZ_IN_BLOCK   ((size_t)1 << 20)
#define XZ_OUT_BLOCK  ((size_t)4 << 20)
#define XZ_THREADS    8u
#define XZ_MEM_THREAD ((uint64_t)1 << 30) /* fewer threads past this */
#define XZ_MEM_STOP   ((uint64_t)1 << 30) /* a stream that needs more fails */

static const unsigned char xz_magic[6] = {0xfd, '7', 'z', 'X', 'Z', 0x00};

static int is_xz(int fd)
{
	unsigned char head[sizeof(xz_magic)];
	ssize_t n;

	do
		n = pread(fd, head, sizeof(head), 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n == (ssize_t)sizeof(head) && memcmp(head, xz_magic, sizeof(head)) == 0;
}

static int xz_fail(struct unpack *u, lzma_ret ret)
{
	switch (ret) {
	case LZMA_MEM_ERROR:
		return -ENOMEM;
	case LZMA_MEMLIMIT_ERROR:
		buf_printf(u->err,
			   "cannot decompress the image: the .xz stream needs more than "
			   "%llu MiB of memory",
			   (unsigned long long)(XZ_MEM_STOP / MIB));
		return -EINVAL;
	case LZMA_BUF_ERROR:
		buf_adds(u->err, "cannot decompress the image: the .xz file is truncated");
		return -EINVAL;
	case LZMA_DATA_ERROR:
	case LZMA_FORMAT_ERROR:
		buf_adds(u->err, "cannot decompress the image: the .xz data is corrupt");
		return -EINVAL;
	default:
		buf_printf(u->err, "cannot decompress the image: liblzma error %d", (int)ret);
		return -EINVAL;
	}
}

static int xz_init(lzma_stream *s)
{
	lzma_mt mt;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	memset(&mt, 0, sizeof(mt));
	mt.flags = LZMA_CONCATENATED;
	mt.threads = cpus < 1 ? 1u : cpus > (long)XZ_THREADS ? XZ_THREADS : (uint32_t)cpus;
	mt.memlimit_threading = XZ_MEM_THREAD;
	mt.memlimit_stop = XZ_MEM_STOP;
	return lzma_stream_decoder_mt(s, &mt) == LZMA_OK ? 0 : -ENOMEM;
}

/* Feed in_fd through the decoder; every full output buffer goes to the disk. */
static int xz_loop(struct unpack *u, lzma_stream *s, uint8_t *in, uint8_t *out)
{
	lzma_action action = LZMA_RUN;
	uint64_t off = 0;
	int r;

	s->next_out = out;
	s->avail_out = XZ_OUT_BLOCK;
	for (;;) {
		lzma_ret ret;

		if (s->avail_in == 0 && action == LZMA_RUN) {
			ssize_t n = read(u->in_fd, in, XZ_IN_BLOCK);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return -errno;
			s->next_in = in;
			s->avail_in = (size_t)n;
			if (n == 0)
				action = LZMA_FINISH;
		}
		ret = lzma_code(s, action);
		if (s->avail_out == 0 || ret == LZMA_STREAM_END) {
			size_t len = XZ_OUT_BLOCK - s->avail_out;

			r = unpack_block(u, out, len, off);
			if (r < 0)
				return r;
			off += len;
			s->next_out = out;
			s->avail_out = XZ_OUT_BLOCK;
		}
		if (ret == LZMA_STREAM_END)
			return 0;
		if (ret != LZMA_OK)
			return xz_fail(u, ret);
	}
}

int unpack_xz(struct unpack *u)
{
	lzma_stream s = LZMA_STREAM_INIT;
	uint8_t *in = NULL, *out = NULL;
	int r;

	r = is_xz(u->in_fd);
	if (r <= 0)
		return r < 0 ? r : 1;
	if (lseek(u->in_fd, 0, SEEK_SET) < 0)
		return -errno;
	in = malloc(XZ_IN_BLOCK);
	out = malloc(XZ_OUT_BLOCK);
	r = in && out ? xz_init(&s) : -ENOMEM;
	if (r == 0)
		r = xz_loop(u, &s, in, out);
	lzma_end(&s);
	free(in);
	free(out);
	return r;
}
