#include "doctor_proc.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/fsutil.h"

#define INODES_MAX 16

static int pid_of(const char *name, pid_t *ret)
{
	char *end = NULL;
	long v;

	if (!isdigit((unsigned char)name[0]))
		return -EINVAL;
	errno = 0;
	v = strtol(name, &end, 10);
	if (errno || *end || v <= 0 || v > 1 << 22)
		return -EINVAL;
	*ret = (pid_t)v;
	return 0;
}

void proc_comm(pid_t pid, char *out, size_t size)
{
	char path[64], *data = NULL;
	size_t len = 0;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	snprintf(out, size, "?");
	if (file_read(path, 256, &data, &len) == 0 && len > 0) {
		if (data[len - 1] == '\n')
			len--;
		snprintf(out, size, "%.*s", (int)len, data);
	}
	free(data);
}

static bool same_netns(pid_t pid, const char *self)
{
	char path[64], link[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return false;
	link[n] = 0;
	return strcmp(link, self) == 0;
}

void proc_find(const char *name, struct proc_list *ret)
{
	char self[64] = "", comm[32];
	struct dirent *e;
	DIR *dir;
	ssize_t n;
	pid_t pid;

	memset(ret, 0, sizeof(*ret));
	n = readlink("/proc/self/ns/net", self, sizeof(self) - 1);
	if (n > 0)
		self[n] = 0;
	dir = opendir("/proc");
	if (!dir)
		return;
	for (e = readdir(dir); e; e = readdir(dir)) {
		if (pid_of(e->d_name, &pid) < 0)
			continue;
		proc_comm(pid, comm, sizeof(comm));
		if (strcmp(comm, name) != 0)
			continue;
		if (same_netns(pid, self) && ret->n_here < PROC_PIDS_MAX)
			ret->here[ret->n_here++] = pid;
		else if (!same_netns(pid, self) && ret->n_elsewhere < PROC_PIDS_MAX)
			ret->elsewhere[ret->n_elsewhere++] = pid;
	}
	closedir(dir);
}

/* The value of argument i if it is the option (a following argument counts). */
static const char *match_option(char **argv, size_t argc, size_t i, const char *long_name,
				char short_name)
{
	const char *a = argv[i];
	size_t ll = strlen(long_name);

	if (a[0] == '-' && a[1] == '-' && strncmp(a + 2, long_name, ll) == 0) {
		if (a[2 + ll] == '=')
			return a + 3 + ll;
		if (a[2 + ll] == 0 && i + 1 < argc)
			return argv[i + 1];
	}
	if (short_name && a[0] == '-' && a[1] == short_name)
		return a[2] ? a + 2 : i + 1 < argc ? argv[i + 1] : NULL;
	return NULL;
}

char *proc_option(pid_t pid, const char *long_name, char short_name)
{
	char path[64], *data = NULL, *argv[256];
	const char *found = NULL, *v;
	size_t len = 0, argc = 0, i;
	char *ret = NULL;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	if (file_read(path, 1 << 16, &data, &len) < 0)
		return NULL;
	for (i = 0; i < len && argc < 256; i += strlen(data + i) + 1)
		argv[argc++] = data + i;
	for (i = 1; i < argc; i++) {
		v = match_option(argv, argc, i, long_name, short_name);
		if (v)
			found = v;
	}
	if (found)
		ret = strdup(found);
	free(data);
	return ret;
}

/* The numbers after "key:" in a /proc/PID/status line, into v. */
static size_t status_numbers(const char *data, const char *key, unsigned long *v, size_t max)
{
	const char *p = strstr(data, key);
	size_t n = 0;
	char *end;

	if (!p)
		return 0;
	p += strlen(key);
	while (n < max) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!isdigit((unsigned char)*p))
			break;
		errno = 0;
		v[n] = strtoul(p, &end, 10);
		if (errno || end == p)
			break;
		n++;
		p = end;
	}
	return n;
}

int proc_ids(pid_t pid, uid_t *ret_uid, gid_t *gids, size_t max, size_t *ret_n)
{
	unsigned long uid[4], v[64];
	char path[64], *data = NULL;
	size_t len = 0, n, i;
	int r;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	r = file_read(path, 1 << 16, &data, &len);
	if (r < 0)
		return r;
	if (status_numbers(data, "\nUid:", uid, 4) < 2) {
		free(data);
		return -EPROTO;
	}
	n = status_numbers(data, "\nGid:", v, 2) >= 2 ? 1 : 0;
	if (n)
		v[0] = v[1]; /* the effective gid */
	n += status_numbers(data, "\nGroups:", v + n, 63);
	for (i = 0; i < n && i < max; i++)
		gids[i] = (gid_t)v[i];
	*ret_uid = (uid_t)uid[1];
	*ret_n = i;
	free(data);
	return 0;
}

/* The inodes of the sockets bound to port in one /proc/net/udp file. */
static void udp_inodes(const char *file, uint16_t port, unsigned long *v, size_t *n)
{
	char line[512], addr[64];
	unsigned long inode;
	unsigned lport;
	FILE *f = fopen(file, "re");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, " %*u: %63[0-9A-Fa-f]:%x %*s %*x %*s %*s %*s %*u %*u %lu", addr,
			   &lport, &inode) != 3)
			continue;
		if (lport == port && inode && *n < INODES_MAX)
			v[(*n)++] = inode;
	}
	fclose(f);
}

/* Whether pid holds a socket with one of the inodes. */
static bool holds(pid_t pid, const unsigned long *v, size_t n)
{
	char path[64], link[64], want[48];
	struct dirent *e;
	bool found = false;
	size_t i;
	DIR *dir;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	dir = opendir(path);
	if (!dir)
		return false;
	fd = dirfd(dir);
	for (e = readdir(dir); e && !found; e = readdir(dir)) {
		ssize_t k = readlinkat(fd, e->d_name, link, sizeof(link) - 1);

		if (k <= 0)
			continue;
		link[k] = 0;
		for (i = 0; i < n && !found; i++) {
			snprintf(want, sizeof(want), "socket:[%lu]", v[i]);
			found = strcmp(link, want) == 0;
		}
	}
	closedir(dir);
	return found;
}

int proc_udp_owner(uint16_t port, pid_t *ret_pid)
{
	unsigned long v[INODES_MAX];
	struct dirent *e;
	size_t n = 0;
	pid_t pid, owner = 0;
	DIR *dir;

	udp_inodes("/proc/net/udp", port, v, &n);
	udp_inodes("/proc/net/udp6", port, v, &n);
	if (!n)
		return -ENOENT;
	dir = opendir("/proc");
	for (e = dir ? readdir(dir) : NULL; e && !owner; e = readdir(dir))
		if (pid_of(e->d_name, &pid) == 0 && holds(pid, v, n))
			owner = pid;
	if (dir)
		closedir(dir);
	*ret_pid = owner;
	return 0;
}

bool proc_udp_held(uint16_t port, pid_t pid)
{
	unsigned long v[INODES_MAX];
	size_t n = 0;

	udp_inodes("/proc/net/udp", port, v, &n);
	udp_inodes("/proc/net/udp6", port, v, &n);
	return n && holds(pid, v, n);
}
