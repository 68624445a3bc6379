/*
 * doctor: dnsmasq runs bramble's configuration, in this network namespace,
 * and owns the DHCP (67, and 4011 for PXE in proxy mode) and TFTP (69) ports.
 */
#include "doctor.h"

#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#include "doctor_proc.h"
#include "../common/buf.h"
#include "../common/fsutil.h"

/* Whether a conf-dir value (DIR[,exclusions]) names dir. */
static bool conf_dir_is(const char *value, const char *dir)
{
	char real[PATH_MAX], *v = strdup(value), *comma;
	bool same = false;

	if (!v)
		return false;
	comma = strchr(v, ',');
	if (comma)
		*comma = 0;
	same = realpath(v, real) && strcmp(real, dir) == 0;
	free(v);
	return same;
}

/* Whether /etc/dnsmasq.conf (read when no --conf-file is given) has conf-dir=dir. */
static bool default_conf_reads(const char *dir)
{
	char *data = NULL, *line, *save = NULL;
	size_t len = 0;
	bool found = false;

	if (file_read("/etc/dnsmasq.conf", 1 << 20, &data, &len) < 0)
		return false;
	for (line = strtok_r(data, "\n", &save); line && !found; line = strtok_r(NULL, "\n", &save))
		found = strncmp(line, "conf-dir=", 9) == 0 && conf_dir_is(line + 9, dir);
	free(data);
	return found;
}

/* Whether pid reads the file ours (a real path): by --conf-file, or its directory. */
static bool runs_ours(pid_t pid, const char *ours, char **ret_conf)
{
	char real[PATH_MAX], dir[PATH_MAX], *conf = proc_option(pid, "conf-file", 'C');
	char *cdir = proc_option(pid, "conf-dir", '7'), *slash;
	bool yes;

	snprintf(dir, sizeof(dir), "%s", ours);
	slash = strrchr(dir, '/');
	if (slash)
		*slash = 0;
	yes = conf && realpath(conf, real) && strcmp(real, ours) == 0;
	yes = yes || (cdir && conf_dir_is(cdir, dir)) || (!conf && default_conf_reads(dir));
	free(cdir);
	*ret_conf = conf;
	return yes;
}

static void other_namespaces(struct doctor *d, const struct proc_list *l, const char *conf)
{
	struct buf fix = BUF_INIT;

	(void)buf_printf(&fix,
			 "run dnsmasq in the namespace that has the cluster's interface, with "
			 "--conf-file=%s, or run doctor in dnsmasq's namespace (ip netns exec NS "
			 "bramble doctor)",
			 conf);
	doctor_report(d, DOCTOR_FAIL, "dnsmasq", buf_str(&fix),
		      "no dnsmasq runs in this network namespace (%zu in other namespaces, "
		      "e.g. pid %d): a Pi on this network gets no answer",
		      l->n_elsewhere, (int)l->elsewhere[0]);
	buf_release(&fix);
}

/* Which process of the list runs our configuration; reports the finding. */
static void find_ours(struct doctor *d, const struct proc_list *l, const char *ours)
{
	char *conf = NULL;
	size_t i;
	struct buf fix = BUF_INIT;

	for (i = 0; i < l->n_here && !d->dnsmasq_pid; i++) {
		free(conf);
		if (runs_ours(l->here[i], ours, &conf))
			d->dnsmasq_pid = l->here[i];
	}
	(void)buf_printf(&fix, "restart dnsmasq with --conf-file=%s (dhcp.restartCommand)", ours);
	if (d->dnsmasq_pid)
		doctor_report(d, DOCTOR_OK, "dnsmasq", NULL, "pid %d runs %s", (int)d->dnsmasq_pid,
			      ours);
	else
		doctor_report(d, DOCTOR_FAIL, "dnsmasq", buf_str(&fix),
			      "dnsmasq (pid %d) runs %s, not bramble's %s", (int)l->here[0],
			      conf ? conf : "/etc/dnsmasq.conf", ours);
	free(conf);
	buf_release(&fix);
}

/* The user dnsmasq reads the TFTP files as: its own, else nobody (its default). */
static void find_user(struct doctor *d)
{
	struct passwd *pw;

	if (d->dnsmasq_pid &&
	    proc_ids(d->dnsmasq_pid, &d->dns_uid, d->dns_gids, 32, &d->n_dns_gids) == 0)
		return;
	pw = getpwnam("nobody");
	d->dns_uid = pw ? pw->pw_uid : 65534;
	d->dns_gids[0] = pw ? pw->pw_gid : 65534;
	d->n_dns_gids = 1;
}

static void check_port(struct doctor *d, uint16_t port, const char *what)
{
	char check[32], comm[32];
	pid_t owner = 0;

	snprintf(check, sizeof(check), "port %u/udp", port);
	if (proc_udp_owner(port, &owner) < 0) {
		doctor_report(d, DOCTOR_FAIL, check,
			      "start dnsmasq with bramble's configuration (it listens there)",
			      "nothing listens for %s here", what);
		return;
	}
	if (d->dnsmasq_pid && proc_udp_held(port, d->dnsmasq_pid)) {
		if (port == 69)
			d->tftp_listening = true;
		doctor_report(d, DOCTOR_OK, check, NULL, "%s is bramble's dnsmasq (pid %d)", what,
			      (int)d->dnsmasq_pid);
		return;
	}
	if (port == 69)
		d->tftp_listening = true; /* someone answers: the TFTP check will say what */
	if (!owner) { /* another user's process: its descriptors are not readable */
		doctor_report(d, DOCTOR_WARN, check, "run doctor as root to see who holds it",
			      "%s: a socket is bound, its process is not visible", what);
		return;
	}
	proc_comm(owner, comm, sizeof(comm));
	doctor_report(d, DOCTOR_FAIL, check,
		      "stop the other server and restart dnsmasq with bramble's configuration",
		      "%s is held by %s (pid %d), not by bramble's dnsmasq", what, comm,
		      (int)owner);
}

static void not_running(struct doctor *d, const char *ours)
{
	struct buf fix = BUF_INIT;

	(void)buf_printf(&fix, "start dnsmasq with --conf-file=%s", ours);
	doctor_report(d, DOCTOR_FAIL, "dnsmasq", buf_str(&fix),
		      "no dnsmasq process runs: nothing answers a Pi's DHCP or TFTP");
	buf_release(&fix);
}

void doctor_check_dnsmasq(struct doctor *d)
{
	char ours[PATH_MAX];
	struct proc_list l;

	if (!realpath(d->cfg->dhcp_conf_file, ours)) {
		doctor_report(d, DOCTOR_FAIL, "dnsmasq", "run `bramble apply`",
			      "bramble's dnsmasq configuration %s does not exist",
			      d->cfg->dhcp_conf_file);
		snprintf(ours, sizeof(ours), "%s", d->cfg->dhcp_conf_file);
	}
	proc_find("dnsmasq", &l);
	if (l.n_here)
		find_ours(d, &l, ours);
	else if (l.n_elsewhere)
		other_namespaces(d, &l, ours);
	else
		not_running(d, ours);
	find_user(d);
	if (d->set->cluster->dhcp_mode != DHCP_MODE_EXTERNAL)
		check_port(d, 67, "DHCP");
	if (d->set->cluster->dhcp_mode == DHCP_MODE_PROXY)
		check_port(d, 4011, "proxy DHCP (PXE)");
	check_port(d, 69, "TFTP");
}
