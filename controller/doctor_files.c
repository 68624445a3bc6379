/*
 * doctor: each node's boot files, in the order its bootloader asks for them:
 * in the tree, readable by the user dnsmasq reads them as (every directory
 * on the way searchable, the file readable), fetched over TFTP from the
 * server's address (from the node's own address when this host has it) and
 * byte-identical to the tree.  Each fetch is bounded in time; after a server
 * that did not answer at all, the remaining fetches are skipped.
 */
#include "doctor.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../common/buf.h"
#include "../common/fsutil.h"
#include "../common/pi_wire.h"
#include "../common/tftp_client.h"

#define BOOT_FILE_MAX	((size_t)256 << 20)
#define FILE_TIMEOUT_MS 2000

/* One node's files, as far as the checks got. */
struct node_files {
	const struct node *n;
	char dir[18];
	struct in_addr source;
	size_t files, bytes;
	bool failed;
	bool *tftp_dead; /* the server did not answer: skip the fetches */
};

static enum pi_board board_of(enum pi_model m)
{
	return m == PI_MODEL_PI3 ? PI_BOARD_3 : m == PI_MODEL_PI4 ? PI_BOARD_4 : PI_BOARD_5;
}

static bool in_groups(const struct doctor *d, gid_t gid)
{
	size_t i;

	for (i = 0; i < d->n_dns_gids; i++)
		if (d->dns_gids[i] == gid)
			return true;
	return false;
}

/* Whether dnsmasq's user may (want: 4 read, 1 search) by the mode bits. */
static bool may(const struct doctor *d, const struct stat *st, unsigned want)
{
	if (d->dns_uid == 0)
		return true;
	if (st->st_uid == d->dns_uid)
		return (st->st_mode >> 6) & want;
	if (in_groups(d, st->st_gid))
		return (st->st_mode >> 3) & want;
	return st->st_mode & want;
}

/* The first component of real (an absolute path) that dnsmasq's user cannot pass. */
static int perm_walk(const struct doctor *d, char *real, struct stat *ret_st)
{
	char *p = real;
	struct stat st;

	for (;;) {
		char *slash = strchr(p + 1, '/');

		if (slash)
			*slash = 0;
		if (stat(real[0] ? real : "/", &st) < 0)
			return -errno;
		if (!may(d, &st, slash ? 1 : 4)) {
			*ret_st = st;
			return -EACCES;
		}
		if (!slash)
			return 0;
		*slash = '/';
		p = slash;
	}
}

static void check_perm(struct doctor *d, struct node_files *nf, const char *path)
{
	char *full = path_join(d->cfg->tftp_root, path), real[PATH_MAX], check[64],
	     fix[PATH_MAX + 64];
	struct stat st = {0};

	if (!full || !realpath(full, real)) {
		free(full);
		return;
	}
	free(full);
	if (perm_walk(d, real, &st) != -EACCES)
		return; /* readable, or gone since realpath: the read says so */
	nf->failed = true;
	snprintf(check, sizeof(check), "permissions %s", nf->n->name);
	snprintf(fix, sizeof(fix), "chmod o+%s %s", S_ISDIR(st.st_mode) ? "x" : "r", real);
	doctor_report(d, DOCTOR_FAIL, check, fix,
		      "dnsmasq reads files as uid %u, which cannot %s %s (mode %04o, owner %u): "
		      "the Pi gets \"access violation\" for %s",
		      (unsigned)d->dns_uid, S_ISDIR(st.st_mode) ? "search" : "read", real,
		      (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid, path);
}

/* Fetch path over TFTP and compare it with the tree's bytes. */
static void check_fetch(struct doctor *d, struct node_files *nf, const char *path, const char *want,
			size_t want_len)
{
	struct tftp_get g = {.server = d->server,
			     .source = nf->source,
			     .timeout_ms = FILE_TIMEOUT_MS,
			     .max = BOOT_FILE_MAX};
	struct buf got = BUF_INIT;
	char check[64], ip[INET_ADDRSTRLEN];
	int r;

	snprintf(check, sizeof(check), "tftp %s", nf->n->name);
	inet_ntop(AF_INET, &d->server, ip, sizeof(ip));
	r = tftp_get_file(&g, path, &got);
	if (r == -ETIMEDOUT && got.len == 0)
		*nf->tftp_dead = true;
	if (r < 0) {
		nf->failed = true;
		doctor_report(d, DOCTOR_FAIL, check,
			      r == -ETIMEDOUT ? "check that dnsmasq runs with enable-tftp and that "
						"no firewall drops UDP port 69"
					      : "see the permissions and dnsmasq lines above",
			      "%s from %s: %s", path, ip, g.error);
	} else if (got.len != want_len || memcmp(got.data, want, want_len) != 0) {
		nf->failed = true;
		doctor_report(d, DOCTOR_FAIL, check,
			      "dnsmasq serves another tree: check tftp-root in the configuration "
			      "it runs, and restart it with bramble's",
			      "%s from %s differs from the tree (%zu bytes served, %zu on disk)",
			      path, ip, got.len, want_len);
	}
	buf_release(&got);
}

static void check_one(struct doctor *d, struct node_files *nf, const char *path, bool optional)
{
	char *data = NULL, check[64];
	size_t len = 0;
	int r;

	r = file_read_beneath(d->cfg->tftp_root, path, BOOT_FILE_MAX, &data, &len);
	if (r == -ENOENT && optional)
		return;
	snprintf(check, sizeof(check), "tree %s", nf->n->name);
	if (r < 0) {
		nf->failed = true;
		doctor_report(d, DOCTOR_FAIL, check, "run `bramble apply`",
			      "the Pi asks for %s, which cannot be read in %s: %s", path,
			      d->cfg->tftp_root, file_read_strerror(r));
		return;
	}
	check_perm(d, nf, path);
	if (d->tftp_listening && !*nf->tftp_dead)
		check_fetch(d, nf, path, data, len);
	nf->files++;
	nf->bytes += len;
	free(data);
}

/* Whether entry i of v already came earlier (config.txt is read twice). */
static bool seen_before(const char *const *v, size_t i)
{
	size_t j;

	for (j = 0; j < i; j++)
		if (strcmp(v[j], v[i]) == 0)
			return true;
	return false;
}

static void check_node(struct doctor *d, const struct node *n, bool *tftp_dead)
{
	const char *const *v = pi_boot_files(board_of(n->model));
	struct node_files nf = {.n = n, .source = doctor_node_source(n), .tftp_dead = tftp_dead};
	char path[96], check[64], from[INET_ADDRSTRLEN] = "this host";
	bool optional;
	size_t i;

	doctor_node_dir(d, n, nf.dir);
	for (i = 0; v[i]; i++)
		if (!seen_before(v, i) &&
		    pi_boot_file_path(v[i], nf.dir, path, sizeof(path), &optional) == 0)
			check_one(d, &nf, path, optional);
	if (nf.failed)
		return;
	snprintf(check, sizeof(check), "boot files %s", n->name);
	if (nf.source.s_addr != htonl(INADDR_ANY))
		inet_ntop(AF_INET, &nf.source, from, sizeof(from));
	if (d->tftp_listening && !*tftp_dead)
		doctor_report(
			d, DOCTOR_OK, check, NULL,
			"%zu files (%zu bytes) in the bootloader's order, readable by uid %u, "
			"fetched over TFTP from %s (from %s) and identical to the tree",
			nf.files, nf.bytes, (unsigned)d->dns_uid, inet_ntoa(d->server), from);
	else
		doctor_report(d, DOCTOR_WARN, check, "see the TFTP lines above",
			      "%zu files in the tree and readable by uid %u; not fetched over "
			      "TFTP (nothing answers)",
			      nf.files, (unsigned)d->dns_uid);
}

void doctor_check_files(struct doctor *d)
{
	bool tftp_dead = false;
	size_t i;

	for (i = 0; i < d->set->n_nodes; i++)
		if (!d->set->nodes[i]->stub)
			check_node(d, d->set->nodes[i], &tftp_dead);
	if (!d->set->n_nodes)
		doctor_report(d, DOCTOR_WARN, "boot files", "add Node manifests",
			      "the manifests name no node");
}
