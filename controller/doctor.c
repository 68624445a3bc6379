#include "doctor.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "netaddr.h"
#include "reconcile.h"
#include "selector.h"
#include "source.h"
#include "../common/buf.h"

static const char *const level_names[] = {"ok", "warn", "FAIL"};

void doctor_report(struct doctor *d, enum doctor_level level, const char *check, const char *fix,
		   const char *fmt, ...)
{
	struct buf msg = BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	(void)buf_vprintf(&msg, fmt, ap);
	va_end(ap);
	d->n[level]++;
	if (d->o->json) {
		json_t *c = json_pack("{s:s, s:s, s:s}", "check", check, "status",
				      level == DOCTOR_FAIL ? "fail" : level_names[level], "message",
				      buf_str(&msg));

		if (c && fix)
			json_object_set_new(c, "fix", json_string(fix));
		if (c)
			json_array_append_new(d->checks, c);
	} else {
		fprintf(d->out, "%-4s  %s: %s", level_names[level], check, buf_str(&msg));
		if (fix)
			fprintf(d->out, "; fix: %s", fix);
		fputc('\n', d->out);
	}
	buf_release(&msg);
}

void doctor_node_dir(const struct doctor *d, const struct node *n, char out[18])
{
	const uint8_t *m = n->mac;

	if (d->set->cluster->tftp_prefix == TFTP_PREFIX_MAC && n->has_mac &&
	    n->model != PI_MODEL_PI3)
		snprintf(out, 18, "%02x-%02x-%02x-%02x-%02x-%02x", m[0], m[1], m[2], m[3], m[4],
			 m[5]);
	else
		snprintf(out, 18, "%s", n->serial);
}

struct in_addr doctor_node_source(const struct node *n)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	struct in_addr none = {.s_addr = htonl(INADDR_ANY)};
	int fd;

	if (!n->has_ip)
		return none;
	sa.sin_addr.s_addr = htonl(n->ip);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return none;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		sa.sin_addr = none;
	close(fd);
	return sa.sin_addr;
}

/*
 * The served tree against the repository: a plan that changes nothing.
 * Drift (a managed file edited or removed by hand) fails: what the Pi gets
 * is not what the repository says.  Changes not applied yet only warn.
 */
static void check_tree(struct doctor *d)
{
	struct pass_opts po = {.mode = PASS_MODE_PLAN};
	struct pass_result res = {.outcome = -1};
	enum log_level saved = log_get_level();
	int code;

	po.out = fopen("/dev/null", "we");
	if (!po.out)
		return;
	log_set_level(LOG_LEVEL_ERROR);
	code = reconcile_pass(d->cfg, &po, &res);
	log_set_level(saved);
	fclose(po.out);
	if (code == EXIT_FAILED)
		doctor_report(d, DOCTOR_FAIL, "tree", "run `bramble plan` to see the errors",
			      "the manifests or the outputs cannot be read");
	else if (res.n_drift)
		doctor_report(d, DOCTOR_FAIL, "tree",
			      "run `bramble apply` (`bramble plan -v` shows the files)",
			      "%zu managed file(s) differ from what bramble wrote (edited or "
			      "removed by hand)",
			      res.n_drift);
	else if (code == EXIT_CHANGES)
		doctor_report(d, DOCTOR_WARN, "tree", "run `bramble apply`",
			      "the repository has changes that are not applied yet");
	else
		doctor_report(d, DOCTOR_OK, "tree", NULL,
			      "the served files are what the repository says (%zu resources)",
			      res.n_unchanged);
}

static void print_summary(struct doctor *d)
{
	bool boots = d->n[DOCTOR_FAIL] == 0;

	if (d->o->json) {
		json_t *doc = json_pack(
			"{s:s, s:b, s:o, s:{s:I, s:I, s:I}}", "schema", "bramble/doctor/v1", "ok",
			boots, "checks", json_incref(d->checks), "counts", "ok",
			(json_int_t)d->n[DOCTOR_OK], "warn", (json_int_t)d->n[DOCTOR_WARN], "fail",
			(json_int_t)d->n[DOCTOR_FAIL]);

		if (doc)
			json_dumpf(doc, d->out, JSON_INDENT(2));
		fputc('\n', d->out);
		json_decref(doc);
		return;
	}
	fprintf(d->out, "%zu ok, %zu warn, %zu FAIL: %s\n", d->n[DOCTOR_OK], d->n[DOCTOR_WARN],
		d->n[DOCTOR_FAIL],
		boots ? "a Pi would boot" : "a Pi would not boot: fix the FAIL lines first");
}

/*
 * The cluster's server address must be one of this host (of this network
 * namespace): the Pis are told to fetch from it, and the checks below ask it
 * over the network, which must never leave for another host.
 */
static bool check_server(struct doctor *d)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr = d->server};
	int fd, r = 0;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		r = -errno;
	if (fd >= 0)
		close(fd);
	if (r < 0) {
		doctor_report(
			d, DOCTOR_FAIL, "server",
			d->server_set
				? "run doctor on the netboot server (ip netns exec NS bramble "
				  "doctor for a namespace), or correct server: in bramble.yaml"
				: "run doctor on the netboot server (ip netns exec NS bramble "
				  "doctor for a namespace), or correct spec.server in the Cluster",
			"the cluster's server address %s is not an address of this host "
			"(%s): the network checks were not run",
			inet_ntoa(d->server), strerror(-r));
		return false;
	}
	doctor_report(d, DOCTOR_OK, "server", NULL, "%s is an address of this host",
		      inet_ntoa(d->server));
	return true;
}

static void run_checks(struct doctor *d)
{
	bool local;

	if (d->o->as_pi) {
		doctor_as_pi(d, d->o->as_pi, d->o->iface);
		return;
	}
	check_tree(d);
	local = check_server(d);
	doctor_check_dnsmasq(d);
	if (!local)
		d->tftp_listening = false;
	doctor_check_files(d);
	if (local)
		doctor_check_nfs(d);
	doctor_check_cmdlines(d);
	if (d->o->probe_iface)
		doctor_check_dhcp(d, d->o->probe_iface);
	else if (d->set->cluster->dhcp_mode == DHCP_MODE_PROXY)
		doctor_report(d, DOCTOR_OK, "dhcp", NULL,
			      "not probed (--probe-dhcp IFACE sends a Pi's DHCPDISCOVER on the "
			      "cluster's network and lists every answer)");
}

int doctor_command(const struct bramble_config *cfg, const struct doctor_opts *o, FILE *out)
{
	struct doctor d = {.cfg = cfg, .o = o, .out = out};
	struct manifest_set *set = NULL;
	size_t i;
	int code = EXIT_FAILED;

	if (source_load_set(cfg, &set) < 0)
		return EXIT_FAILED;
	d.set = set;
	/* Several sites: this server's nodes and address (pass_select.c does the same). */
	selector_apply(cfg->selector, set);
	if (cfg->server && ipv4_parse(cfg->server, &set->cluster->server_ip) == 0) {
		set->cluster->server = cfg->server;
		d.server_set = true;
	}
	d.server.s_addr = htonl(set->cluster->server_ip);
	d.checks = json_array();
	if (!d.checks)
		goto out;
	run_checks(&d);
	print_summary(&d);
	code = d.n[DOCTOR_FAIL] ? EXIT_FAILED : EXIT_OK;
out:
	for (i = 0; i < d.n_served; i++)
		free(d.served[i]);
	free(d.served);
	json_decref(d.checks);
	manifest_set_free(set);
	return code;
}
