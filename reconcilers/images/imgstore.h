/*
 * imgstore: the content-addressed image store.
 *
 * An Image given by url is kept under the SHA-256 of its file, so one image
 * file is fetched and extracted once, however many Images and nodes name it.
 * Layout beneath the store directory:
 *
 *	sha256/<digest>/boot/         the FAT boot partition's files
 *	sha256/<digest>/root/         the ext4 root file system's files
 *	sha256/<digest>/info          url, sizes and counts of the extraction
 *	downloads/<digest>[.part]     a downloaded image file (see keep_downloads)
 *	staging/<digest>.<pid>/       an extraction in progress (disk.img, boot/, root/)
 *	locks/<digest>                flock()ed while the image is brought in
 *	urls/<sha256 of the url>      the digest of a file:// image given without
 *	                              sha256, with the file's size, mtime and inode
 *	failed/<digest>               why the image could not be extracted
 *	trash/                        entries being removed
 *
 * sha256/<digest> only ever appears by a rename of a complete, synced
 * staging directory, so its existence means a whole extraction: readers need
 * no lock.  Two bramble processes never work on the same digest at once (the
 * lock); a staging directory whose digest is not locked is a leftover of a
 * dead process and is removed by the next imgstore_ensure().
 *
 * Images are untrusted: a bad partition table, a missing FAT or ext4
 * partition, a truncated compressed stream, a decompressed size over the
 * limit or a hostile file system fail with a message naming the image, and
 * leave nothing under sha256/ or staging/.
 */
#ifndef BRAMBLE_IMGSTORE_H
#define BRAMBLE_IMGSTORE_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "download.h"
#include "progress.h"
#include "hash.h"
#include "imgfs_part.h"
#include "model.h"

#define IMGSTORE_MAX_SIZE_DEFAULT ((uint64_t)64 << 30)

struct imgstore_opts {
	uint64_t max_size;    /* image file and decompressed disk, bytes (0: 64 GiB) */
	uint64_t max_entries; /* files and directories per file system (0: the readers') */
	unsigned timeout_s;   /* download: no byte for this long is a failure (0: 60) */
	unsigned retries;     /* download attempts after the first */
	unsigned backoff_ms;  /* first retry delay (0: 1000) */
	const char *ca_file;  /* extra CA bundle for https, or NULL */
	bool keep_downloads;  /* keep downloads/<digest> after a successful extraction */
	bool quiet;	      /* no download progress */
	/* One line per finished step ("decompressed 1024 MiB in 9.1 s").  NULL: silent. */
	void (*note)(void *arg, const char *line);
	/* A download's progress, retries and final line (download.h); NULL: silent. */
	void (*download_note)(void *arg, enum download_note kind, const char *line);
	void *note_arg;
	/* The download's, the decompression's and the root's extraction's progress
	 * (progress.h); fn NULL: none. */
	struct progress_cb progress;
};

/*
 * The digest an Image is stored under, when it is known without reading
 * the image: its sha256, or the one recorded for a file:// image whose file
 * has not changed since it was hashed.  Returns 0, -ENOENT when unknown (a
 * file:// image not hashed yet, or changed), -EINVAL for an Image with no url.
 */
int imgstore_digest(int store_fd, const struct image *img, char ret[SHA256_HEX_LEN + 1]);

/*
 * The local path of a file:// url (percent-decoded, absolute): 0, -ENOENT
 * for a url of another scheme, -EINVAL for a bad file:// url.
 */
int imgstore_file_url_path(const char *url, char **ret);

/* Whether sha256/<digest> is in the store (1) or not (0), or a negative errno. */
int imgstore_has(int store_fd, const char *digest);

/*
 * Bring the Image (which has a url) into the store, unless it is there:
 * fetch it (https/http with download_file() into downloads/; a file:// image
 * is read in place and verified), decompress it into a sparse raw disk,
 * find the FAT boot and the ext4 root partitions, extract both, and publish
 * sha256/<digest> (see above).  On success ret_digest holds the digest.
 * Returns 0 or a negative errno with a one-line message in err that names
 * the image: -EBADMSG checksum mismatch, -EINVAL a broken or hostile image,
 * -EFBIG over max_size, -EIO download failure, ...  An image whose content
 * cannot be extracted is remembered (failed/<digest>, with the version and
 * limits), so later calls fail at once instead of decompressing it again;
 * its download is kept, so that nothing is fetched twice.
 */
int imgstore_ensure(int store_fd, const struct image *img, const struct imgstore_opts *o,
		    char ret_digest[SHA256_HEX_LEN + 1], struct buf *err);

/* One digest the store holds, extracted or only downloaded. */
struct imgstore_entry {
	char digest[SHA256_HEX_LEN + 1];
	bool extracted;		   /* sha256/<digest> exists */
	bool failed;		   /* its extraction failed (see imgstore_ensure) */
	bool fetching;		   /* being brought in now by a bramble process, not extracted */
	uint64_t bytes;		   /* on disk: the extraction, plus any download */
	char *url;		   /* as recorded at extraction (no userinfo), or NULL */
	const struct image **refs; /* Images of the set stored under this digest */
	size_t n_refs;
};

struct imgstore_list {
	struct imgstore_entry *v; /* sorted by digest */
	size_t n;
};

/*
 * List what the store holds; with set (may be NULL), which of its Images
 * reference each entry.  imgstore_list_release() frees the list.
 */
int imgstore_list(int store_fd, const struct manifest_set *set, struct imgstore_list *ret);
void imgstore_list_release(struct imgstore_list *l);

/*
 * How many digests a bramble process is bringing in now (downloading or
 * extracting: their lock is held) that are not extracted yet; cheaper than
 * imgstore_list() (no sizes), for /metrics at each scrape.
 */
int imgstore_fetching(int store_fd, size_t *ret_n);

/*
 * Remove everything the store holds under digest: the extraction (renamed
 * away first, so it disappears at once), the download and its .part file,
 * the record of a failed extraction.
 * Returns 0, -EBUSY when another process is bringing it in, -EINVAL for a
 * name that is not a digest, or another negative errno (message in err).
 */
int imgstore_remove(int store_fd, const char *digest, struct buf *err);

/* Remove the staging directories of processes that are gone; returns how many. */
int imgstore_clean_staging(int store_fd);

/*
 * Remove the temps a killed writer left in the store directory dfd (its
 * urls/ records and in-use list are written by the atomic writer):
 * ".<name>.<pid>.tmp" of a process that is gone.  0 or a negative errno.
 */
int imgstore_remove_dead_temps(int dfd);

/*
 * The steps of imgstore_ensure(), exposed for the tests and the benchmark.
 *
 * imgstore_unpack: decompress the image file open at in_fd (xz, zstd, gzip,
 * bzip2, a .zip holding one *.img, or a plain image) into out_fd, an empty
 * regular file, leaving all-zero blocks as holes; ret_size gets the disk's
 * size.  o (may be NULL) gives max_size and the note callback.  -EFBIG past
 * max_size, -EINVAL for a broken stream or archive.
 */
int imgstore_unpack(int in_fd, int out_fd, const struct imgstore_opts *o, uint64_t *ret_size,
		    struct buf *err);

/*
 * imgstore_find_parts: read the partition table of the raw disk at fd and
 * find the boot partition (FAT type or GPT basic data/ESP holding a FAT boot
 * sector) and the root partition (MBR 0x83 or GPT Linux file system holding
 * an ext2/3/4 superblock); -EINVAL with a message when either is missing.
 */
int imgstore_find_parts(int fd, uint64_t size, struct imgfs_part *ret_boot,
			struct imgfs_part *ret_root, struct buf *err);

/* A size for people: "812 KiB", "1.2 GiB". */
const char *imgstore_human(uint64_t bytes, char out[32]);

#endif
