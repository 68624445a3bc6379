/*
 * imgfs_part: MBR and GPT partition tables of disk images, read with pread.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "imgfs_part.h"

#define GPT_ENTRIES_MAX	  1024u
#define GPT_ENTRY_MIN	  128u
#define GPT_ENTRY_MAX	  4096u
#define GPT_HEADER_MIN	  92u
#define MBR_TYPE_GPT_PROT 0xee

static const uint8_t gpt_basic_data[16] = {0xa2, 0xa0, 0xd0, 0xeb, 0xe5, 0xb9, 0x33, 0x44,
					   0x87, 0xc0, 0x68, 0xb6, 0xb7, 0x26, 0x99, 0xc7};
static const uint8_t gpt_efi_system[16] = {0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11,
					   0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e, 0xc9, 0x3b};
static const uint8_t gpt_zero[16];

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static uint32_t crc32_update(uint32_t crc, const uint8_t *p, size_t len)
{
	crc = ~crc;
	for (size_t i = 0; i < len; i++) {
		crc ^= p[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
	}
	return ~crc;
}

static int fail(struct buf *err, const char *msg, unsigned number)
{
	if (err != NULL && number > 0)
		(void)buf_printf(err, "partition %u: %s", number, msg);
	else if (err != NULL)
		(void)buf_printf(err, "partition table: %s", msg);
	return -EINVAL;
}

/* Read exactly len bytes at off of fd; -ENODATA when the file ends first. */
int imgfs_pread(int fd, void *dst, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (uint8_t *)dst + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ENODATA;
		done += (size_t)n;
	}
	return 0;
}

static int read_at(int fd, void *dst, size_t len, uint64_t off, struct buf *err)
{
	int r = imgfs_pread(fd, dst, len, off);

	return r == -ENODATA ? fail(err, "image is truncated", 0) : r;
}

/* Add one partition after checking it against the image and the others. */
static int part_add(struct imgfs_table *t, const struct imgfs_part *p, uint64_t image_size,
		    struct buf *err)
{
	if (p->size == 0)
		return fail(err, "has size zero", p->number);
	if (p->start < IMGFS_SECTOR)
		return fail(err, "starts inside the partition table", p->number);
	if (p->start > image_size || p->size > image_size - p->start)
		return fail(err, "extends past the end of the image", p->number);
	for (unsigned i = 0; i < t->count; i++) {
		const struct imgfs_part *q = &t->parts[i];

		if (p->start < q->start + q->size && q->start < p->start + p->size)
			return fail(err, "overlaps another partition", p->number);
	}
	if (t->count >= IMGFS_PART_MAX)
		return fail(err, "too many partitions", 0);
	t->parts[t->count++] = *p;
	return 0;
}

/* Check the GPT header (signature, size, CRC, location) and its entry array bounds. */
static int gpt_header(uint8_t *hdr, uint64_t image_size, struct buf *err)
{
	uint32_t hsize = le32(hdr + 12), want_crc = le32(hdr + 16);
	uint32_t count = le32(hdr + 80), esize = le32(hdr + 84);
	uint64_t array = le64(hdr + 72);

	if (memcmp(hdr, "EFI PART", 8) != 0)
		return fail(err, "protective MBR but no GPT header signature", 0);
	if (hsize < GPT_HEADER_MIN || hsize > IMGFS_SECTOR)
		return fail(err, "GPT header has an absurd size", 0);
	memset(hdr + 16, 0, 4);
	if (crc32_update(0, hdr, hsize) != want_crc)
		return fail(err, "GPT header checksum mismatch", 0);
	if (le64(hdr + 24) != 1)
		return fail(err, "GPT header is not at LBA 1", 0);
	if (count > GPT_ENTRIES_MAX || esize < GPT_ENTRY_MIN || esize > GPT_ENTRY_MAX ||
	    esize % GPT_ENTRY_MIN != 0)
		return fail(err, "GPT entry count or size is absurd", 0);
	if (array < 2 || array > image_size / IMGFS_SECTOR ||
	    (uint64_t)count * esize > image_size - array * IMGFS_SECTOR)
		return fail(err, "GPT entry array lies outside the image", 0);
	return 0;
}

/* Turn one GPT entry into a partition (first/last LBA within the usable area). */
static int gpt_entry(const uint8_t *hdr, const uint8_t *ent, unsigned number, uint64_t image_size,
		     struct imgfs_table *t, struct buf *err)
{
	uint64_t first = le64(ent + 32), last = le64(ent + 40);
	struct imgfs_part p = {0};

	p.number = number;
	if (last < first || last >= UINT64_MAX / IMGFS_SECTOR)
		return fail(err, "has an absurd size", number);
	if (first < le64(hdr + 40) || last > le64(hdr + 48))
		return fail(err, "lies outside the GPT usable area", number);
	memcpy(p.gpt_type, ent, 16);
	p.start = first * IMGFS_SECTOR;
	p.size = (last - first + 1) * IMGFS_SECTOR;
	return part_add(t, &p, image_size, err);
}

/* Parse the GPT header at LBA 1 and its entry array (the backup is not read). */
static int gpt_read(int fd, uint64_t image_size, struct imgfs_table *t, struct buf *err)
{
	uint8_t hdr[IMGFS_SECTOR];
	uint8_t ent[GPT_ENTRY_MAX];
	uint32_t crc = 0;
	int r;

	r = read_at(fd, hdr, sizeof(hdr), IMGFS_SECTOR, err);
	if (r == 0)
		r = gpt_header(hdr, image_size, err);
	if (r < 0)
		return r;
	t->scheme = IMGFS_SCHEME_GPT;
	for (uint32_t i = 0; i < le32(hdr + 80); i++) {
		uint32_t esize = le32(hdr + 84);

		r = read_at(fd, ent, esize, le64(hdr + 72) * IMGFS_SECTOR + (uint64_t)i * esize,
			    err);
		if (r < 0)
			return r;
		crc = crc32_update(crc, ent, esize);
		if (memcmp(ent, gpt_zero, 16) == 0)
			continue;
		r = gpt_entry(hdr, ent, i + 1, image_size, t, err);
		if (r < 0)
			return r;
	}
	if (crc != le32(hdr + 88))
		return fail(err, "GPT entry array checksum mismatch", 0);
	return 0;
}

/* Parse the four primary MBR entries of sector 0. */
static int mbr_parse(const uint8_t *mbr, uint64_t image_size, struct imgfs_table *t,
		     struct buf *err)
{
	t->scheme = IMGFS_SCHEME_MBR;
	for (unsigned i = 0; i < 4; i++) {
		const uint8_t *e = mbr + 446 + 16 * i;
		struct imgfs_part p = {0};
		int r;

		if (e[0] != 0x00 && e[0] != 0x80)
			return fail(err, "has a bad boot flag", i + 1);
		if (e[4] == 0)
			continue;
		p.number = i + 1;
		p.mbr_type = e[4];
		p.start = (uint64_t)le32(e + 8) * IMGFS_SECTOR;
		p.size = (uint64_t)le32(e + 12) * IMGFS_SECTOR;
		r = part_add(t, &p, image_size, err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Read the partition table: MBR, or the GPT behind a protective MBR. */
int imgfs_part_read(int fd, uint64_t image_size, struct imgfs_table *ret, struct buf *err)
{
	uint8_t mbr[IMGFS_SECTOR];
	int r;

	memset(ret, 0, sizeof(*ret));
	if (image_size < IMGFS_SECTOR)
		return fail(err, "image is smaller than one sector", 0);
	r = read_at(fd, mbr, sizeof(mbr), 0, err);
	if (r < 0)
		goto out;
	if (mbr[510] != 0x55 || mbr[511] != 0xaa) {
		r = fail(err, "bad MBR signature", 0);
		goto out;
	}
	for (unsigned i = 0; i < 4; i++) {
		if (mbr[446 + 16 * i + 4] == MBR_TYPE_GPT_PROT) {
			r = gpt_read(fd, image_size, ret, err);
			goto out;
		}
	}
	r = mbr_parse(mbr, image_size, ret, err);
out:
	if (r < 0)
		memset(ret, 0, sizeof(*ret));
	return r;
}

/* FAT MBR types (FAT12/16/32, CHS and LBA) and the GPT EFI/basic data GUIDs. */
int imgfs_part_is_fat(const struct imgfs_part *p)
{
	switch (p->mbr_type) {
	case 0x01:
	case 0x04:
	case 0x06:
	case 0x0b:
	case 0x0c:
	case 0x0e:
	case 0xef:
		return 1;
	default:
		break;
	}
	return memcmp(p->gpt_type, gpt_basic_data, 16) == 0 ||
	       memcmp(p->gpt_type, gpt_efi_system, 16) == 0;
}
