/*
 * bootwatch: the table of what each Pi did (bootwatch.h).  Records are kept
 * by serial; what is known of a MAC before its serial is (a DHCP exchange,
 * option 97) is kept by MAC and joins the serial's record once a TFTP request
 * ties the two (the serial directory asked for from the address the MAC was
 * given, or the node of the manifests with that MAC or address).
 */
#include "bootwatch.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bootwatch_map.h"
#include "../common/hash.h"
#include "../common/array.h"

#define FILES_MAX   256	  /* names of the files of one boot, space-separated */
#define NAME_MAX_B  64	  /* one file name kept (longer ones are cut) */
#define BOOT_GAP    120	  /* seconds of silence that end a boot */
#define RECS_MAX    65536 /* serials kept */
/* Serials no manifest names: any host on the LAN can ask for made-up ones. */
#define UNKNOWN_MAX 1024
#define MACS_MAX    65536 /* MACs kept */
#define XID_RING    64	  /* recent DHCP transactions, for the option lines after them */
#define NO_REC	    UINT32_MAX
#define ADDR_KEY(a) ((uint64_t)1 << 48 | (a))

struct rec {
	char serial[9];
	char model[4];	/* "pi3", "pi4", "pi5" or "" */
	int model_rank; /* 1: Pi 3 files, 2: Pi 4/5 files, 3: option 97 */
	bool has_mac, has_addr, has_dhcp_addr;
	uint8_t mac[6];
	uint32_t addr, dhcp_addr;
	time_t first_seen, last_seen, last_dhcp, boot_start, last_tftp, err_time;
	char dhcp_what[16];
	enum boot_stage stage;
	unsigned boots, files_served;
	char files[FILES_MAX];
	char err_kind[24];
	char err_file[NAME_MAX_B];
	unsigned neigh_boot; /* the boot the neighbour lookup was last asked for */
	bool told_unknown;   /* bootwatch_news(): reported as unknown */
	unsigned told_stall; /* bootwatch_news(): the boot last reported stalled */
};

struct macinfo {
	uint8_t mac[6];
	char model[4];
	bool has_serial0;
	uint8_t serial0; /* option 97: the serial's first byte */
	uint32_t rec;	 /* NO_REC until a serial is tied to it */
};

struct xid_entry {
	uint32_t xid, mac; /* index into macs */
};

struct bootwatch {
	char *tftp_root;
	size_t root_len;
	struct rec *recs;
	size_t n_recs, cap_recs;
	struct macinfo *macs;
	size_t n_macs, cap_macs;
	struct u64map by_serial, by_mac, by_addr_rec, by_addr_mac;
	struct u64map known_serial, known_mac, known_ip; /* → serial value */
	struct xid_entry xids[XID_RING];
	size_t xid_next;
	uint64_t events, unattributed;
	size_t n_unknown; /* records of serials not in known_serial */
	bool dirty;
	bootwatch_neigh_fn neigh;
	void *neigh_ctx;
};

static const char *const stage_names[BOOT_STAGE_COUNT] = {
	"none", "dhcp", "config", "firmware", "initramfs", "devicetree", "cmdline", "kernel"};

const char *boot_stage_name(enum boot_stage s)
{
	return s < BOOT_STAGE_COUNT ? stage_names[s] : "none";
}

static bool starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool ends(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

enum boot_stage boot_stage_of_file(const char *name)
{
	if (strcmp(name, "config.txt") == 0)
		return BOOT_STAGE_CONFIG;
	if (strcmp(name, "bootcode.bin") == 0 || (starts(name, "start") && ends(name, ".elf")) ||
	    (starts(name, "fixup") && ends(name, ".dat")))
		return BOOT_STAGE_FIRMWARE;
	if (starts(name, "initramfs") || starts(name, "initrd"))
		return BOOT_STAGE_INITRAMFS;
	if (ends(name, ".dtb") || starts(name, "overlays/"))
		return BOOT_STAGE_DEVICETREE;
	if (strcmp(name, "cmdline.txt") == 0)
		return BOOT_STAGE_CMDLINE;
	if (starts(name, "kernel") && ends(name, ".img"))
		return BOOT_STAGE_KERNEL;
	return BOOT_STAGE_NONE;
}

/* The model a requested file tells, and how sure it is (0: nothing). */
static int model_of_file(const char *name, const char **ret)
{
	if (starts(name, "start4") || starts(name, "fixup4")) {
		*ret = "pi4";
		return 2;
	}
	if (strcmp(name, "kernel_2712.img") == 0) {
		*ret = "pi5";
		return 2;
	}
	if (strcmp(name, "bootcode.bin") == 0 || strcmp(name, "start.elf") == 0) {
		*ret = "pi3";
		return 1;
	}
	return 0;
}

static bool serial_value(const char *s, size_t len, uint32_t *ret)
{
	uint32_t v = 0;
	size_t i;

	if (len != 8)
		return false;
	for (i = 0; i < 8; i++) {
		int h = hex_value(s[i]);

		if (h < 0 || (s[i] >= 'A' && s[i] <= 'F'))
			return false;
		v = v << 4 | (uint32_t)h;
	}
	*ret = v;
	return true;
}

static uint64_t mac_key(const uint8_t mac[6])
{
	uint64_t k = 0;
	size_t i;

	for (i = 0; i < 6; i++)
		k = k << 8 | mac[i];
	return k;
}

int bootwatch_new(struct bootwatch **ret)
{
	struct bootwatch *bw = calloc(1, sizeof(*bw));

	if (!bw)
		return -ENOMEM;
	*ret = bw;
	return 0;
}

void bootwatch_free(struct bootwatch *bw)
{
	if (!bw)
		return;
	u64map_release(&bw->by_serial);
	u64map_release(&bw->by_mac);
	u64map_release(&bw->by_addr_rec);
	u64map_release(&bw->by_addr_mac);
	u64map_release(&bw->known_serial);
	u64map_release(&bw->known_mac);
	u64map_release(&bw->known_ip);
	free(bw->recs);
	free(bw->macs);
	free(bw->tftp_root);
	free(bw);
}

int bootwatch_set_tftp_root(struct bootwatch *bw, const char *root)
{
	char *r = strdup(root ? root : "");
	size_t n;

	if (!r)
		return -ENOMEM;
	n = strlen(r);
	while (n > 1 && r[n - 1] == '/')
		r[--n] = 0;
	free(bw->tftp_root);
	bw->tftp_root = r;
	bw->root_len = n;
	return 0;
}

static bool is_known(const struct bootwatch *bw, const char *serial)
{
	uint32_t s, v;

	return serial_value(serial, 8, &s) && u64map_get(&bw->known_serial, s, &v);
}

int bootwatch_set_known(struct bootwatch *bw, const struct boot_known *nodes, size_t n)
{
	size_t i;
	int r = 0;

	u64map_clear(&bw->known_serial);
	u64map_clear(&bw->known_mac);
	u64map_clear(&bw->known_ip);
	for (i = 0; r == 0 && i < n; i++) {
		uint32_t s;

		if (!nodes[i].serial || !serial_value(nodes[i].serial, strlen(nodes[i].serial), &s))
			continue;
		r = u64map_put(&bw->known_serial, s, s);
		if (r == 0 && nodes[i].has_mac)
			r = u64map_put(&bw->known_mac, mac_key(nodes[i].mac), s);
		if (r == 0 && nodes[i].has_ip)
			r = u64map_put(&bw->known_ip, nodes[i].ip, s);
	}
	bw->n_unknown = 0;
	for (i = 0; i < bw->n_recs; i++)
		bw->n_unknown += !is_known(bw, bw->recs[i].serial);
	bw->dirty = true;
	return r;
}

/* The record of a serial, made when missing (NULL past RECS_MAX or on ENOMEM). */
static struct rec *rec_get(struct bootwatch *bw, uint32_t serial, time_t t)
{
	uint32_t idx;
	bool known;
	struct rec *rc;

	if (u64map_get(&bw->by_serial, serial, &idx))
		return &bw->recs[idx];
	known = u64map_get(&bw->known_serial, serial, &idx);
	if (bw->n_recs >= RECS_MAX || (!known && bw->n_unknown >= UNKNOWN_MAX))
		return NULL;
	if (bw->n_recs == bw->cap_recs) {
		struct rec *v = array_grow(bw->recs, &bw->cap_recs, sizeof(*v), 16);

		if (!v)
			return NULL;
		bw->recs = v;
	}
	if (u64map_put(&bw->by_serial, serial, (uint32_t)bw->n_recs) < 0)
		return NULL;
	rc = &bw->recs[bw->n_recs++];
	bw->n_unknown += !known;
	memset(rc, 0, sizeof(*rc));
	snprintf(rc->serial, sizeof(rc->serial), "%08x", serial);
	rc->first_seen = rc->last_seen = t;
	return rc;
}

static struct macinfo *mac_get(struct bootwatch *bw, const uint8_t mac[6])
{
	uint32_t idx;
	struct macinfo *mi;

	if (u64map_get(&bw->by_mac, mac_key(mac), &idx))
		return &bw->macs[idx];
	if (bw->n_macs >= MACS_MAX)
		return NULL;
	if (bw->n_macs == bw->cap_macs) {
		struct macinfo *v = array_grow(bw->macs, &bw->cap_macs, sizeof(*v), 16);

		if (!v)
			return NULL;
		bw->macs = v;
	}
	if (u64map_put(&bw->by_mac, mac_key(mac), (uint32_t)bw->n_macs) < 0)
		return NULL;
	mi = &bw->macs[bw->n_macs++];
	memset(mi, 0, sizeof(*mi));
	memcpy(mi->mac, mac, 6);
	mi->rec = NO_REC;
	return mi;
}

static void rec_model(struct rec *rc, const char *model, int rank)
{
	if (rank > rc->model_rank) {
		snprintf(rc->model, sizeof(rc->model), "%s", model);
		rc->model_rank = rank;
	}
}

/* Tie a MAC to a record: each learns what the other knows. */
static void link_mac(struct bootwatch *bw, struct rec *rc, struct macinfo *mi)
{
	mi->rec = (uint32_t)(rc - bw->recs);
	if (!rc->has_mac || memcmp(rc->mac, mi->mac, 6) != 0) {
		memcpy(rc->mac, mi->mac, 6);
		rc->has_mac = true;
	}
	if (mi->model[0])
		rec_model(rc, mi->model, 3);
}

/* The record a MAC belongs to: tied already, or a node of the manifests. */
static struct rec *rec_of_mac(struct bootwatch *bw, struct macinfo *mi, time_t t)
{
	uint32_t s;
	struct rec *rc;

	if (mi->rec != NO_REC)
		return &bw->recs[mi->rec];
	if (!u64map_get(&bw->known_mac, mac_key(mi->mac), &s))
		return NULL;
	rc = rec_get(bw, s, t);
	if (rc)
		link_mac(bw, rc, mi);
	return rc;
}

static time_t last_activity(const struct rec *rc)
{
	return rc->last_dhcp > rc->last_tftp ? rc->last_dhcp : rc->last_tftp;
}

static void new_boot(struct rec *rc, time_t t)
{
	rc->boots++;
	rc->stage = BOOT_STAGE_NONE;
	rc->files[0] = 0;
	rc->files_served = 0;
	rc->boot_start = t;
	rc->err_kind[0] = rc->err_file[0] = 0;
	rc->err_time = 0;
}

static void touch(struct rec *rc, time_t t)
{
	if (t > rc->last_seen)
		rc->last_seen = t;
	if (t < rc->first_seen)
		rc->first_seen = t;
}

static void rec_dhcp(struct rec *rc, const struct boot_event *ev)
{
	/* A boot starts with DHCP; the retransmits of one exchange stay in it. */
	if (rc->boots == 0 || rc->stage > BOOT_STAGE_DHCP || ev->time - rc->boot_start > BOOT_GAP)
		new_boot(rc, ev->time);
	if (rc->stage < BOOT_STAGE_DHCP)
		rc->stage = BOOT_STAGE_DHCP;
	rc->last_dhcp = ev->time;
	snprintf(rc->dhcp_what, sizeof(rc->dhcp_what), "%s", ev->what);
	if (ev->has_addr) {
		rc->dhcp_addr = rc->addr = ev->addr;
		rc->has_dhcp_addr = rc->has_addr = true;
	}
	touch(rc, ev->time);
}

static void xid_push(struct bootwatch *bw, uint32_t xid, uint32_t mac_idx)
{
	bw->xids[bw->xid_next % XID_RING].xid = xid;
	bw->xids[bw->xid_next % XID_RING].mac = mac_idx + 1; /* 0: empty */
	bw->xid_next++;
}

static int apply_dhcp(struct bootwatch *bw, const struct boot_event *ev)
{
	struct macinfo *mi = mac_get(bw, ev->mac);
	struct rec *rc;
	int r = 0;

	if (!mi)
		return -ENOMEM;
	if (ev->has_xid)
		xid_push(bw, ev->xid, (uint32_t)(mi - bw->macs));
	if (ev->has_addr)
		r = u64map_put(&bw->by_addr_mac, ev->addr, (uint32_t)(mi - bw->macs));
	rc = rec_of_mac(bw, mi, ev->time);
	if (rc)
		rec_dhcp(rc, ev);
	else
		bw->unattributed++;
	return r;
}

static int apply_opt97(struct bootwatch *bw, const struct boot_event *ev)
{
	size_t i;

	for (i = 1; i <= XID_RING && i <= bw->xid_next; i++) {
		const struct xid_entry *x = &bw->xids[(bw->xid_next - i) % XID_RING];
		struct macinfo *mi;

		if (!x->mac || x->xid != ev->xid)
			continue;
		mi = &bw->macs[x->mac - 1];
		if (memcmp(mi->mac + 2, ev->mac4, 4) != 0)
			return 0; /* not this client's GUID */
		mi->serial0 = ev->serial0;
		mi->has_serial0 = true;
		snprintf(mi->model, sizeof(mi->model), "%s",
			 strcmp(ev->fourcc, "RPi5") == 0   ? "pi5"
			 : strcmp(ev->fourcc, "RPi4") == 0 ? "pi4"
							   : "");
		if (mi->rec != NO_REC && mi->model[0])
			rec_model(&bw->recs[mi->rec], mi->model, 3);
		bw->dirty = true;
		return 0;
	}
	return 0;
}

/*
 * The file a TFTP line names, relative to the TFTP root, split into its
 * node directory ("" for a file at the root) and the name inside it.
 */
static bool tftp_split(const struct bootwatch *bw, const struct boot_event *ev, char *dir,
		       size_t dir_size, char *name, size_t name_size)
{
	const char *p = ev->path, *end = ev->path + ev->path_len, *slash;

	if (bw->root_len && (size_t)(end - p) > bw->root_len &&
	    memcmp(p, bw->tftp_root, bw->root_len) == 0 && p[bw->root_len] == '/')
		p += bw->root_len;
	while (p < end && *p == '/')
		p++;
	if (p == end)
		return false;
	slash = memchr(p, '/', (size_t)(end - p));
	dir[0] = 0;
	if (slash && (size_t)(slash - p) < dir_size && ((slash - p == 8) || (slash - p == 17))) {
		memcpy(dir, p, (size_t)(slash - p));
		dir[slash - p] = 0;
		p = slash + 1;
	}
	snprintf(name, name_size, "%.*s", (int)(end - p), p);
	return true;
}

/* "dc-a6-32-01-36-c2": the directory of TFTP_PREFIX=2 (MAC prefix mode). */
static bool parse_mac_dir(const char *s, uint8_t mac[6])
{
	return boot_mac_parse(s, strlen(s), '-', mac);
}

/* The record a TFTP request belongs to: by its directory, else by its address. */
static struct rec *rec_of_tftp(struct bootwatch *bw, const struct boot_event *ev, const char *dir)
{
	uint8_t mac[6];
	uint32_t s, idx;
	struct macinfo *mi;

	if (serial_value(dir, strlen(dir), &s))
		return rec_get(bw, s, ev->time);
	if (dir[0] && parse_mac_dir(dir, mac)) {
		mi = mac_get(bw, mac);
		return mi ? rec_of_mac(bw, mi, ev->time) : NULL;
	}
	if (!ev->has_addr)
		return NULL;
	if (u64map_get(&bw->by_addr_rec, ev->addr, &idx))
		return &bw->recs[idx];
	if (u64map_get(&bw->known_ip, ev->addr, &s))
		return rec_get(bw, s, ev->time);
	if (u64map_get(&bw->by_addr_mac, ev->addr, &idx))
		return rec_of_mac(bw, &bw->macs[idx], ev->time);
	return NULL;
}

static void files_add(struct rec *rc, const char *name)
{
	size_t n = strlen(rc->files), m = strlen(name);
	const char *p = rc->files;

	if (m == 0)
		return; /* no file (and strstr() finds "" everywhere: the loop would not end) */
	/*
	 * The list is space-separated: a name with a space (a client may ask
	 * for any name; no boot file has one) would come back as several, and
	 * a record saved and loaded would not be the same (fuzz_bootlog).
	 */
	if (memchr(name, ' ', m))
		return;
	while ((p = strstr(p, name)) != NULL) {
		if ((p == rc->files || p[-1] == ' ') && (p[m] == ' ' || p[m] == 0))
			return; /* already there */
		p += m;
	}
	if (n + m + 2 > sizeof(rc->files))
		return;
	if (n)
		rc->files[n++] = ' ';
	memcpy(rc->files + n, name, m + 1);
}

static void rec_error(struct rec *rc, const char *kind, const char *name, time_t t)
{
	snprintf(rc->err_kind, sizeof(rc->err_kind), "%s", kind);
	snprintf(rc->err_file, sizeof(rc->err_file), "%s", name);
	rc->err_time = t;
}

static void rec_tftp(struct rec *rc, const struct boot_event *ev, const char *name)
{
	enum boot_stage st = boot_stage_of_file(name);
	const char *model = NULL;
	int rank = model_of_file(name, &model);

	if (rc->boots == 0 || ev->time - last_activity(rc) > BOOT_GAP)
		new_boot(rc, ev->time);
	rc->last_tftp = ev->time;
	if (rank)
		rec_model(rc, model, rank);
	switch (ev->kind) {
	case BOOT_EV_TFTP_SENT:
		files_add(rc, name);
		rc->files_served++;
		if (st > rc->stage)
			rc->stage = st;
		break;
	case BOOT_EV_TFTP_NOT_FOUND:
		rec_error(rc, "not found", name, ev->time);
		break;
	case BOOT_EV_TFTP_FAILED:
		rec_error(rc, "timeout", name, ev->time);
		break;
	default:
		break;
	}
	touch(rc, ev->time);
}

/*
 * Proxy mode: dnsmasq never learns a Pi's address, so nothing ties a serial
 * directory to the MAC of the DHCP exchange before it, but option 97 gave
 * the serial's first byte.  Among the last DHCP exchanges of MACs with no
 * serial yet, the one whose byte matches is the Pi, when it is the only one.
 */
static void link_by_serial0(struct bootwatch *bw, struct rec *rc)
{
	uint32_t s, found = NO_REC;
	size_t i;

	if (rc->has_mac || !serial_value(rc->serial, 8, &s))
		return;
	for (i = 0; i < XID_RING && i < bw->xid_next; i++) {
		const struct xid_entry *x = &bw->xids[i];
		const struct macinfo *mi;

		if (!x->mac)
			continue;
		mi = &bw->macs[x->mac - 1];
		if (mi->rec != NO_REC || !mi->has_serial0 || mi->serial0 != s >> 24 ||
		    x->mac - 1 == found)
			continue;
		if (found != NO_REC)
			return; /* two candidates: no guess */
		found = x->mac - 1;
	}
	if (found != NO_REC)
		link_mac(bw, rc, &bw->macs[found]);
}

/*
 * Any mode: the server's ARP table ties the address a TFTP request came from
 * to the MAC that sent it (bootwatch_set_neigh), certain where the option 97
 * guess above needs a single candidate.  Asked once a boot of a record with
 * no MAC, so that a flood of requests costs one lookup a made-up serial.
 */
static void link_by_neigh(struct bootwatch *bw, struct rec *rc, const struct boot_event *ev)
{
	uint8_t mac[6];
	struct macinfo *mi;

	if (rc->has_mac || !ev->has_addr || !bw->neigh || rc->neigh_boot == rc->boots)
		return;
	rc->neigh_boot = rc->boots;
	if (!bw->neigh(bw->neigh_ctx, ev->pid, ev->addr, mac))
		return;
	mi = mac_get(bw, mac);
	if (mi && mi->rec == NO_REC)
		link_mac(bw, rc, mi);
}

void bootwatch_set_neigh(struct bootwatch *bw, bootwatch_neigh_fn fn, void *ctx)
{
	bw->neigh = fn;
	bw->neigh_ctx = ctx;
}

static int apply_tftp(struct bootwatch *bw, const struct boot_event *ev)
{
	char dir[24], name[NAME_MAX_B];
	struct rec *rc;
	uint32_t idx;
	int r = 0;

	if (ev->kind == BOOT_EV_TFTP_CLIENT_ERROR ||
	    !tftp_split(bw, ev, dir, sizeof(dir), name, sizeof(name)))
		return 0;
	rc = rec_of_tftp(bw, ev, dir);
	if (!rc) {
		bw->unattributed++;
		return 0;
	}
	rec_tftp(rc, ev, name);
	link_by_neigh(bw, rc, ev);
	link_by_serial0(bw, rc);
	if (!ev->has_addr)
		return 0;
	rc->addr = ev->addr;
	rc->has_addr = true;
	r = u64map_put(&bw->by_addr_rec, ev->addr, (uint32_t)(rc - bw->recs));
	if (r == 0 && u64map_get(&bw->by_addr_mac, ev->addr, &idx) && bw->macs[idx].rec == NO_REC)
		link_mac(bw, rc, &bw->macs[idx]);
	return r;
}

int bootwatch_apply(struct bootwatch *bw, const struct boot_event *ev)
{
	switch (ev->kind) {
	case BOOT_EV_NONE:
		return 0;
	case BOOT_EV_DHCP:
		bw->events++;
		bw->dirty = true;
		return ev->has_mac ? apply_dhcp(bw, ev) : 0;
	case BOOT_EV_OPT97:
		return ev->has_xid ? apply_opt97(bw, ev) : 0;
	case BOOT_EV_STARTED:
		return 0;
	default:
		bw->events++;
		bw->dirty = true;
		return apply_tftp(bw, ev);
	}
}

long bootwatch_feed(struct bootwatch *bw, const char *data, size_t len, time_t now)
{
	const char *p = data, *end = data + len, *nl;
	struct boot_event ev;
	int r;

	while (p < end && (nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		(void)boot_line_parse(p, (size_t)(nl - p), now, &ev);
		r = bootwatch_apply(bw, &ev);
		if (r < 0)
			return r;
		p = nl + 1;
	}
	return (long)(p - data);
}

bool bootwatch_dirty(const struct bootwatch *bw)
{
	return bw->dirty;
}

void bootwatch_clear_dirty(struct bootwatch *bw)
{
	bw->dirty = false;
}

void bootwatch_counts(const struct bootwatch *bw, struct bootwatch_counts *ret)
{
	size_t i;

	memset(ret, 0, sizeof(*ret));
	ret->events = bw->events;
	for (i = 0; i < bw->n_recs; i++) {
		if (!is_known(bw, bw->recs[i].serial)) {
			ret->unknown++;
			continue;
		}
		ret->nodes_seen++;
		ret->by_stage[bw->recs[i].stage < BOOT_STAGE_COUNT ? bw->recs[i].stage : 0]++;
	}
}

bool bootwatch_mid_boot(const struct bootwatch *bw, const char *serial, time_t now, unsigned window)
{
	uint32_t s, idx;
	const struct rec *rc;

	if (!serial || !serial_value(serial, strlen(serial), &s) ||
	    !u64map_get(&bw->by_serial, s, &idx))
		return false;
	rc = &bw->recs[idx];
	/* A boot that has read a file and not yet its kernel; one that only
	 * did DHCP reads every file after the switch, from one revision. */
	return rc->last_tftp && now - rc->last_tftp <= (time_t)window &&
	       rc->stage >= BOOT_STAGE_CONFIG && rc->stage < BOOT_STAGE_KERNEL;
}

/*
 * A network boot that has not reached its kernel: one that read a file, or
 * was refused one.  A DHCP exchange alone is not one: the running system's
 * own DHCP (full DHCP mode) would look like a boot that stalled.
 */
static bool netboot_unfinished(const struct rec *rc)
{
	return rc->stage < BOOT_STAGE_KERNEL && (rc->stage >= BOOT_STAGE_CONFIG || rc->err_kind[0]);
}

/* Report (or with fn NULL, only mark) what a record has that is news. */
static void rec_news(const struct bootwatch *bw, struct rec *rc, time_t now, unsigned stall_s,
		     bootwatch_news_fn fn, void *ctx)
{
	struct boot_news n;
	bool known = is_known(bw, rc->serial);

	memset(&n, 0, sizeof(n));
	n.serial = rc->serial;
	n.model = rc->model;
	n.has_mac = rc->has_mac;
	memcpy(n.mac, rc->mac, sizeof(n.mac));
	n.stage = rc->stage;
	if (!known && !rc->told_unknown &&
	    (rc->has_mac || now - rc->first_seen >= BOOT_NEWS_MAC_WAIT_S || !fn)) {
		rc->told_unknown = true;
		n.kind = BOOT_NEWS_UNKNOWN;
		n.since = rc->first_seen;
		if (fn)
			fn(ctx, &n);
	}
	if (known && rc->boots && rc->told_stall != rc->boots && netboot_unfinished(rc) &&
	    now - rc->boot_start >= (time_t)stall_s) {
		rc->told_stall = rc->boots;
		n.kind = BOOT_NEWS_STALLED;
		n.since = rc->boot_start;
		if (fn)
			fn(ctx, &n);
	}
}

void bootwatch_news(struct bootwatch *bw, time_t now, unsigned stall_s, bootwatch_news_fn fn,
		    void *ctx)
{
	size_t i;

	for (i = 0; i < bw->n_recs; i++)
		rec_news(bw, &bw->recs[i], now, stall_s, fn, ctx);
}

static json_t *iso(time_t t)
{
	struct tm tm;
	char s[32];

	if (!t || !gmtime_r(&t, &tm) || !strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%SZ", &tm))
		return json_null();
	return json_string(s);
}

static time_t from_iso(const json_t *j)
{
	const char *s = json_string_value(j), *end;
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	end = s ? strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm) : NULL;
	return end && !*end ? timegm(&tm) : 0;
}

static json_t *addr_json(uint32_t a)
{
	char s[16];

	snprintf(s, sizeof(s), "%u.%u.%u.%u", a >> 24, a >> 16 & 255, a >> 8 & 255, a & 255);
	return json_string(s);
}

static json_t *files_json(const char *files)
{
	json_t *a = json_array();
	size_t n;

	while (a && *files) {
		n = strcspn(files, " ");
		json_array_append_new(a, json_stringn(files, n));
		files += n + (files[n] == ' ');
	}
	return a;
}

static json_t *rec_json(const struct bootwatch *bw, const struct rec *rc)
{
	json_t *o = json_object();
	char mac[18];

	json_object_set_new(o, "known", json_boolean(is_known(bw, rc->serial)));
	json_object_set_new(o, "model", json_string(rc->model));
	if (rc->has_mac) {
		snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", rc->mac[0], rc->mac[1],
			 rc->mac[2], rc->mac[3], rc->mac[4], rc->mac[5]);
		json_object_set_new(o, "mac", json_string(mac));
	}
	if (rc->has_addr)
		json_object_set_new(o, "address", addr_json(rc->addr));
	json_object_set_new(o, "firstSeen", iso(rc->first_seen));
	json_object_set_new(o, "lastSeen", iso(rc->last_seen));
	json_object_set_new(o, "boots", json_integer(rc->boots));
	json_object_set_new(o, "stage", json_string(boot_stage_name(rc->stage)));
	json_object_set_new(o, "bootStarted", iso(rc->boot_start));
	json_object_set_new(o, "files", files_json(rc->files));
	json_object_set_new(o, "filesServed", json_integer(rc->files_served));
	json_object_set_new(o, "lastTftp", iso(rc->last_tftp));
	if (rc->last_dhcp) {
		json_t *d =
			json_pack("{s:o,s:s}", "time", iso(rc->last_dhcp), "type", rc->dhcp_what);

		if (d && rc->has_dhcp_addr)
			json_object_set_new(d, "address", addr_json(rc->dhcp_addr));
		json_object_set_new(o, "lastDhcp", d);
	}
	if (rc->err_kind[0])
		json_object_set_new(o, "lastError",
				    json_pack("{s:s,s:s,s:o}", "kind", rc->err_kind, "file",
					      rc->err_file, "time", iso(rc->err_time)));
	return o;
}

json_t *bootwatch_to_json(const struct bootwatch *bw)
{
	json_t *nodes = json_object(), *doc;
	size_t i;

	for (i = 0; nodes && i < bw->n_recs; i++)
		json_object_set_new(nodes, bw->recs[i].serial, rec_json(bw, &bw->recs[i]));
	doc = json_pack("{s:i,s:I,s:I,s:o}", "version", 1, "events", (json_int_t)bw->events,
			"unattributed", (json_int_t)bw->unattributed, "nodes", nodes);
	return doc;
}

static bool ipv4_of(const json_t *j, uint32_t *ret)
{
	return boot_ipv4_parse(json_string_value(j), ret);
}

static const char *jstr(const json_t *j)
{
	const char *s = json_string_value(j);

	return s ? s : "";
}

static int rec_load(struct bootwatch *bw, struct rec *rc, const json_t *o)
{
	const json_t *d = json_object_get(o, "lastDhcp"), *e = json_object_get(o, "lastError"), *f;
	const char *mac = json_string_value(json_object_get(o, "mac"));
	struct macinfo *mi;
	uint8_t m[6];
	size_t i;

	snprintf(rc->model, sizeof(rc->model), "%s", jstr(json_object_get(o, "model")));
	rc->model_rank = rc->model[0] ? 2 : 0;
	rc->has_addr = ipv4_of(json_object_get(o, "address"), &rc->addr);
	rc->first_seen = from_iso(json_object_get(o, "firstSeen"));
	rc->last_seen = from_iso(json_object_get(o, "lastSeen"));
	rc->boots = (unsigned)json_integer_value(json_object_get(o, "boots"));
	for (i = 0; i < BOOT_STAGE_COUNT; i++)
		if (json_string_value(json_object_get(o, "stage")) &&
		    strcmp(stage_names[i], json_string_value(json_object_get(o, "stage"))) == 0)
			rc->stage = (enum boot_stage)i;
	rc->boot_start = from_iso(json_object_get(o, "bootStarted"));
	json_array_foreach(json_object_get(o, "files"), i, f) if (json_is_string(f))
		files_add(rc, json_string_value(f));
	rc->files_served = (unsigned)json_integer_value(json_object_get(o, "filesServed"));
	rc->last_tftp = from_iso(json_object_get(o, "lastTftp"));
	rc->last_dhcp = from_iso(json_object_get(d, "time"));
	snprintf(rc->dhcp_what, sizeof(rc->dhcp_what), "%s", jstr(json_object_get(d, "type")));
	rc->has_dhcp_addr = ipv4_of(json_object_get(d, "address"), &rc->dhcp_addr);
	if (json_is_object(e)) {
		snprintf(rc->err_kind, sizeof(rc->err_kind), "%s",
			 jstr(json_object_get(e, "kind")));
		snprintf(rc->err_file, sizeof(rc->err_file), "%s",
			 jstr(json_object_get(e, "file")));
		rc->err_time = from_iso(json_object_get(e, "time"));
	}
	if (rc->has_addr && u64map_put(&bw->by_addr_rec, rc->addr, (uint32_t)(rc - bw->recs)) < 0)
		return -ENOMEM;
	if (mac && boot_mac_parse(mac, strlen(mac), ':', m)) {
		mi = mac_get(bw, m);
		if (!mi)
			return -ENOMEM;
		link_mac(bw, rc, mi);
	}
	return 0;
}

int bootwatch_from_json(struct bootwatch *bw, const json_t *j)
{
	const json_t *nodes = json_object_get(j, "nodes"), *o;
	const char *serial;
	uint32_t s;
	int r = 0;

	if (!json_is_object(j) || json_integer_value(json_object_get(j, "version")) != 1)
		return -EINVAL;
	bw->events = (uint64_t)json_integer_value(json_object_get(j, "events"));
	bw->unattributed = (uint64_t)json_integer_value(json_object_get(j, "unattributed"));
	json_object_foreach((json_t *)(uintptr_t)nodes, serial, o)
	{
		struct rec *rc;

		if (!json_is_object(o) || !serial_value(serial, strlen(serial), &s))
			continue;
		rc = rec_get(bw, s, 0);
		if (!rc)
			return -ENOMEM;
		r = rec_load(bw, rc, o);
		if (r < 0)
			break;
	}
	return r;
}
