#include "bootwatch_follow.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic.h"
#include "json_each.h"
#include "log.h"
#include "neigh.h"
#include "../common/buf.h"
#include "../common/fsutil.h"

#define NODES_FILE     "nodes.json"
#define CHUNK	       65536
#define LINE_MAX_B     8192		  /* a longer "line" is not dnsmasq's: dropped */
#define TAIL_START     ((off_t)1 << 20)	  /* read this much of a log met for the first time */
#define STATE_MAX      ((size_t)64 << 20) /* boot.json */
#define NODES_MAX      ((size_t)256 << 20)
#define SAVE_EVERY_SEC 2

struct boot_follow {
	struct bootwatch *bw;
	char *path, *state_dir;
	int fd, state_fd;
	dev_t dev;
	ino_t ino;
	off_t off;
	bool skip_partial; /* started mid-file: the first bytes up to a newline are not a line */
	bool have_saved;   /* boot.json gave a position */
	struct buf partial;
	struct stat nodes_st;
	time_t saved_at;
};

static void load_state(struct boot_follow *f)
{
	char *data = NULL;
	size_t len = 0;
	json_t *j = NULL, *log;

	if (file_read_at(f->state_fd, BOOT_STATE_FILE, STATE_MAX, &data, &len) < 0)
		return;
	j = json_loadb(data, len, 0, NULL);
	if (!j || bootwatch_from_json(f->bw, j) < 0) {
		log_warnx("%s/%s is not a boot record: starting a new one", f->state_dir,
			  BOOT_STATE_FILE);
	} else {
		log = json_object_get(j, "log");
		f->dev = (dev_t)json_integer_value(json_object_get(log, "dev"));
		f->ino = (ino_t)json_integer_value(json_object_get(log, "inode"));
		f->off = (off_t)json_integer_value(json_object_get(log, "offset"));
		f->have_saved = f->ino != 0 && f->off >= 0;
	}
	json_decref(j);
	free(data);
}

/* The nodes of the last applied pass (serial, MAC, address), as nodes.json is read. */
struct known_read {
	struct boot_known *v;
	char (*serials)[9]; /* v's, copied: each element is freed once read */
	size_t n, cap;
};

static int known_add(void *ctx, const json_t *o)
{
	struct known_read *k = ctx;
	const char *serial = json_string_value(json_object_get(o, "serial"));
	const char *mac = json_string_value(json_object_get(o, "mac"));
	struct boot_known *e;

	if (!serial || strlen(serial) != 8) /* not a serial (bootwatch_set_known) */
		return 0;
	if (k->n == k->cap) {
		size_t cap = k->cap ? k->cap * 2 : 256;
		struct boot_known *v = realloc(k->v, cap * sizeof(*v));
		char(*sv)[9] = v ? realloc(k->serials, cap * sizeof(*sv)) : NULL;

		if (v)
			k->v = v;
		if (!sv)
			return -ENOMEM;
		k->serials = sv;
		k->cap = cap;
	}
	e = &k->v[k->n];
	memset(e, 0, sizeof(*e));
	memcpy(k->serials[k->n], serial, 9);
	/* as bramble writes them, or not at all: "10.99.0.298" is not 10.99.0.42 */
	e->has_mac = mac && boot_mac_parse(mac, strlen(mac), ':', e->mac);
	e->has_ip = boot_ipv4_parse(json_string_value(json_object_get(o, "ip")), &e->ip);
	k->n++;
	return 0;
}

void boot_follow_refresh_known(struct boot_follow *f)
{
	struct known_read k = {NULL, NULL, 0, 0};
	struct stat st;
	char *data = NULL;
	size_t len = 0, i;
	int r;

	if (fstatat(f->state_fd, NODES_FILE, &st, 0) < 0 ||
	    (st.st_ino == f->nodes_st.st_ino && st.st_size == f->nodes_st.st_size &&
	     st.st_mtim.tv_sec == f->nodes_st.st_mtim.tv_sec &&
	     st.st_mtim.tv_nsec == f->nodes_st.st_mtim.tv_nsec))
		return;
	/* Until a read succeeds, the known nodes are of no file (boot_follow_known_same). */
	memset(&f->nodes_st, 0, sizeof(f->nodes_st));
	if (file_read_at(f->state_fd, NODES_FILE, NODES_MAX, &data, &len) < 0)
		return;
	/* A node at a time (json_each.h): 10,000 nodes whole were 28 MB. */
	r = json_each(data, len, known_add, &k);
	for (i = 0; r == 0 && i < k.n; i++)
		k.v[i].serial = k.serials[i];
	if (r == 0 && bootwatch_set_known(f->bw, k.v, k.n) == 0)
		f->nodes_st = st;
	free(k.v);
	free(k.serials);
	free(data);
}

void boot_follow_known_same(struct boot_follow *f)
{
	struct stat st;

	if (f->nodes_st.st_ino && fstatat(f->state_fd, NODES_FILE, &st, 0) == 0)
		f->nodes_st = st;
}

/* The table's neighbour lookup (bootwatch_set_neigh): the ARP table dnsmasq's kernel keeps. */
static bool arp_lookup(void *ctx, uint32_t pid, uint32_t addr, uint8_t ret_mac[6])
{
	(void)ctx;
	return neigh_lookup(pid, addr, ret_mac);
}

int boot_follow_open(const struct bramble_config *cfg, struct boot_follow **ret)
{
	struct boot_follow *f = NULL;
	int r;

	if (!cfg->dhcp_log_file)
		return -ENOENT;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->fd = f->state_fd = -1;
	buf_set_max(&f->partial, LINE_MAX_B);
	f->path = strdup(cfg->dhcp_log_file);
	f->state_dir = strdup(cfg->state_dir);
	r = f->path && f->state_dir ? bootwatch_new(&f->bw) : -ENOMEM;
	if (r == 0)
		r = bootwatch_set_tftp_root(f->bw, cfg->tftp_root);
	if (r == 0)
		bootwatch_set_neigh(f->bw, arp_lookup, NULL);
	if (r == 0) {
		f->state_fd = open(cfg->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (f->state_fd < 0)
			r = -errno;
	}
	if (r < 0) {
		boot_follow_close(f);
		return r;
	}
	load_state(f);
	boot_follow_refresh_known(f);
	bootwatch_clear_dirty(f->bw);
	*ret = f;
	return 0;
}

/* Where to start in a file just opened: the saved position, its start, or its tail. */
static void start_at(struct boot_follow *f, const struct stat *st, bool first)
{
	f->partial.len = 0;
	f->skip_partial = false;
	if (f->have_saved && st->st_dev == f->dev && st->st_ino == f->ino &&
	    st->st_size >= f->off) {
		log_info("boot observation: following %s from byte %lld (where the last run "
			 "stopped)",
			 f->path, (long long)f->off);
	} else if (first && !f->have_saved && st->st_size > TAIL_START) {
		f->off = st->st_size - TAIL_START;
		f->skip_partial = true;
		log_info("boot observation: following %s from its last 1 MiB", f->path);
	} else {
		f->off = 0;
		log_info("boot observation: following %s from its start", f->path);
	}
	f->have_saved = false;
	f->dev = st->st_dev;
	f->ino = st->st_ino;
}

static int open_log(struct boot_follow *f, bool first)
{
	struct stat st;
	int fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	f->fd = fd;
	start_at(f, &st, first);
	return 0;
}

/* Feed the complete lines of partial + data; keep the rest for the next read. */
static int consume(struct boot_follow *f, const char *data, size_t len, time_t now)
{
	long used;
	int r;

	if (f->skip_partial) {
		const char *nl = memchr(data, '\n', len);

		if (!nl)
			return 0;
		f->skip_partial = false;
		len -= (size_t)(nl + 1 - data);
		data = nl + 1;
	}
	r = buf_add(&f->partial, data, len);
	if (r == -E2BIG) { /* no newline in 8 KiB: not a log line */
		f->partial.len = 0;
		f->skip_partial = true;
		return 0;
	}
	if (r < 0)
		return r;
	used = bootwatch_feed(f->bw, f->partial.data, f->partial.len, now);
	if (used < 0)
		return (int)used;
	memmove(f->partial.data, f->partial.data + used, f->partial.len - (size_t)used);
	f->partial.len -= (size_t)used;
	return 0;
}

/* Read the open file from f->off to its end. */
static int drain(struct boot_follow *f, time_t now)
{
	char *chunk = malloc(CHUNK);
	ssize_t n;
	int r = 0;

	if (!chunk)
		return -ENOMEM;
	while (r == 0 && (n = pread(f->fd, chunk, CHUNK, f->off)) > 0) {
		f->off += n;
		r = consume(f, chunk, (size_t)n, now);
	}
	free(chunk);
	return r;
}

/* After reading to the end: has the path been rotated or the file truncated? */
static void check_rotation(struct boot_follow *f, time_t now)
{
	struct stat path_st, fd_st;

	if (fstat(f->fd, &fd_st) == 0 && fd_st.st_size < f->off) {
		log_info("boot observation: %s was truncated; reading it from its start", f->path);
		f->off = 0;
		f->partial.len = 0;
		return;
	}
	if (stat(f->path, &path_st) < 0 || (path_st.st_dev == f->dev && path_st.st_ino == f->ino))
		return; /* moved away and not recreated yet: dnsmasq still writes the old one */
	(void)drain(f, now);
	close(f->fd);
	f->fd = -1;
	if (open_log(f, false) == 0)
		log_info("boot observation: %s was rotated", f->path);
}

bool boot_follow_poll(struct boot_follow *f, time_t now)
{
	int r;

	if (f->fd < 0 && open_log(f, true) < 0)
		return false;
	r = drain(f, now);
	if (r == 0)
		check_rotation(f, now);
	if (r == 0 && f->fd >= 0)
		r = drain(f, now);
	if (r < 0)
		log_errno(r, "boot observation: cannot read %s", f->path);
	return bootwatch_dirty(f->bw);
}

int boot_follow_save(struct boot_follow *f, bool force)
{
	json_t *doc;
	char *text;
	time_t now = time(NULL);
	int r;

	if (!bootwatch_dirty(f->bw) || (!force && now - f->saved_at < SAVE_EVERY_SEC))
		return 0;
	doc = bootwatch_to_json(f->bw);
	if (!doc)
		return -ENOMEM;
	json_object_set_new(doc, "log",
			    json_pack("{s:s,s:I,s:I,s:I}", "path", f->path, "dev",
				      (json_int_t)f->dev, "inode", (json_int_t)f->ino, "offset",
				      (json_int_t)(f->off - (off_t)f->partial.len)));
	text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(doc);
	if (!text)
		return -ENOMEM;
	r = atomic_write_at(f->state_fd, BOOT_STATE_FILE, text, strlen(text), 0644,
			    ATOMIC_SYNC_NONE);
	free(text);
	if (r < 0) {
		log_errno(r, "cannot write %s/%s", f->state_dir, BOOT_STATE_FILE);
		return r;
	}
	bootwatch_clear_dirty(f->bw);
	f->saved_at = now;
	return 0;
}

void boot_follow_news(struct boot_follow *f, time_t now, unsigned stall_s, bootwatch_news_fn fn,
		      void *ctx)
{
	bootwatch_news(f->bw, now, stall_s, fn, ctx);
}

const struct bootwatch *boot_follow_table(const struct boot_follow *f)
{
	return f->bw;
}

void boot_follow_close(struct boot_follow *f)
{
	if (!f)
		return;
	if (f->bw && f->state_fd >= 0)
		(void)boot_follow_save(f, true);
	if (f->fd >= 0)
		close(f->fd);
	if (f->state_fd >= 0)
		close(f->state_fd);
	bootwatch_free(f->bw);
	buf_release(&f->partial);
	free(f->path);
	free(f->state_dir);
	free(f);
}
