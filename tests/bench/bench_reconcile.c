/*
 * bench_reconcile: how long `bramble apply` takes, and how much memory it
 * needs, for clusters of 100, 1,000 and 10,000 nodes.
 *
 * For each size it generates a manifest repository in a scratch directory
 * (one Cluster in full DHCP mode, one Image, one Profile, and the nodes, 100
 * to a file; the nodes share one read-only root of the image: 10,000 private
 * roots are 10,000 copies of an OS, measured by bench_roots.sh instead) and runs the real binary three ways: a cold apply into empty
 * outputs (but for the demo image store), a no-op apply (nothing changed)
 * and an apply after one node's config.txt changed (three different edits).
 * Each figure is the median of three runs.  Wall time is taken around
 * fork/exec/wait4, CPU time and peak RSS from wait4's rusage.
 *
 * Beside it, a minimal reference writer creates the files bramble creates on
 * a cold apply (per node a generation directory of hard links into the image
 * store plus config.txt and cmdline.txt, switched in by a symlink; a hosts
 * file; the node's identity in the shared root, hostname, hosts and
 * firstboot.conf in three directories of its own; an export line; one
 * exports file and one dnsmasq conf), each
 * file by write-temp + rename, once with an fsync per file and once with none
 * (the floor), so the figures can be judged against what the file system
 * itself costs.  Cold applies and reference runs alternate, each into a
 * fresh root of its own on the same file system.
 *
 * It prints figures and asserts nothing: the targets are marked PASS or MISS,
 * and the exit code is 0 unless something failed to run.  Every measurement
 * follows a sync(); the page cache is not dropped, so figures are warm-cache.
 *
 *	bench_reconcile [--bramble PATH] [--source-dir DIR] [N...]
 *
 * Environment: BENCH_DIR (where the scratch directory goes, default /tmp),
 * BENCH_KEEP=1 (keep the scratch directory).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef BENCH_BRAMBLE
#define BENCH_BRAMBLE "bramble"
#endif
#ifndef BENCH_SOURCE_DIR
#define BENCH_SOURCE_DIR "."
#endif

#define NODES_PER_FILE	100
/*
 * The node addresses (10.0.1.10 onwards) fit 50,800 nodes; a size makes 9
 * output trees of about 20 inodes a node, so 20,000 nodes stay within a few
 * million inodes (tmpfs has a limit too).
 */
#define NODES_MAX	20000
#define SIZES_MAX	16
#define RUNS		3
#define OUT_TAIL	4096
#define ERR_HEAD	16384
#define REF_FILES_MAX	256
#define GPU_MEM_DEFAULT 16
#define IP_MAX		24

/* Targets (DESIGN.md: "the cost of a pass grows with what changed"; the
 * two ratios at 1.3: issue 15, "headroom on the command line"). */
#define TARGET_COLD_OVER_FLOOR 1.3
#define TARGET_NOOP_OVER_COLD  0.10
#define TARGET_ONE_OVER_NOOP   1.3
#define TARGET_RSS_MB	       64.0

struct bench {
	const char *bramble;
	const char *source_dir;
	char scratch[PATH_MAX];
	bool keep;
};

/* One child process: its exit status, resource use and some of its output. */
struct run {
	double wall_s;
	double cpu_s; /* user + sys */
	double sys_s;
	long rss_kb;
	int status;
	char out[OUT_TAIL + 1]; /* the last bytes of stdout */
	size_t out_len;
	char err[ERR_HEAD + 1]; /* the first bytes of stderr */
	size_t err_len;
};

/* One measured phase; counts are bramble's own summary line. */
struct phase {
	double wall_s;
	double cpu_s; /* user + sys */
	double sys_s;
	long rss_kb;
	bool counted;
	size_t created, updated, deleted, unchanged;
};

/* Everything about one cluster size. */
struct size_run {
	const struct bench *b;
	unsigned n;
	char dir[PATH_MAX];
	char repo[PATH_MAX];
	char out[PATH_MAX];
	unsigned *gpu_mem; /* per node, the config.txt value an edit changes */
	struct phase cold, noop, one, ref_sync, ref_floor;
	double noop_first_s; /* the pass right after the cold apply (records signatures) */
	long peak_rss_kb;
	size_t ref_paths;
	char load[32]; /* /proc/loadavg's first three figures when the size ended */
	bool ok;
};

/* The image's boot tree, as the reference writer links it. */
struct boot_list {
	char *rel[REF_FILES_MAX];
	bool dir[REF_FILES_MAX];
	size_t n;
	char *config_txt;
};

/* A growable string for the one large file the reference writes (exports). */
struct sbuf {
	char *data;
	size_t len, cap;
};

static int fmt(char *out, size_t size, const char *f, ...) __attribute__((format(printf, 3, 4)));

/* snprintf into a fixed buffer; -ENAMETOOLONG instead of a truncated string. */
static int fmt(char *out, size_t size, const char *f, ...)
{
	va_list ap;
	int n;

	va_start(ap, f);
	n = vsnprintf(out, size, f, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static int sbuf_printf(struct sbuf *s, const char *f, ...) __attribute__((format(printf, 2, 3)));

static int sbuf_printf(struct sbuf *s, const char *f, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, f);
		n = vsnprintf(s->data ? s->data + s->len : NULL, s->cap - s->len, f, ap);
		va_end(ap);
		if (n < 0)
			return -EINVAL;
		if (s->data && s->len + (size_t)n < s->cap) {
			s->len += (size_t)n;
			return 0;
		}
		if (s->cap > ((size_t)1 << 30))
			return -E2BIG;
		s->cap = s->cap ? s->cap * 2 : 65536;
		s->data = realloc(s->data, s->cap);
		if (!s->data)
			return -ENOMEM;
	}
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double tv_s(const struct timeval *tv)
{
	return (double)tv->tv_sec + (double)tv->tv_usec / 1e6;
}

/* This process's CPU time so far: user + sys, and sys alone. */
static void self_cpu(double *ret_cpu, double *ret_sys)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	*ret_cpu = tv_s(&ru.ru_utime) + tv_s(&ru.ru_stime);
	*ret_sys = tv_s(&ru.ru_stime);
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* ---- running a child -------------------------------------------------- */

static void keep_tail(struct run *r, const char *data, size_t n)
{
	if (n >= OUT_TAIL) {
		memcpy(r->out, data + n - OUT_TAIL, OUT_TAIL);
		r->out_len = OUT_TAIL;
	} else {
		if (r->out_len + n > OUT_TAIL) {
			size_t drop = r->out_len + n - OUT_TAIL;

			memmove(r->out, r->out + drop, r->out_len - drop);
			r->out_len -= drop;
		}
		memcpy(r->out + r->out_len, data, n);
		r->out_len += n;
	}
	r->out[r->out_len] = '\0';
}

static void keep_head(struct run *r, const char *data, size_t n)
{
	size_t room = ERR_HEAD - r->err_len;

	if (n > room)
		n = room;
	memcpy(r->err + r->err_len, data, n);
	r->err_len += n;
	r->err[r->err_len] = '\0';
}

/* Read the child's stdout and stderr until both are closed. */
static int drain(int out_fd, int err_fd, struct run *r)
{
	struct pollfd p[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
	char buf[65536];
	int open_fds = 2, i;

	while (open_fds) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (i = 0; i < 2; i++) {
			ssize_t n;

			if (p[i].fd < 0 || !p[i].revents)
				continue;
			n = read(p[i].fd, buf, sizeof(buf));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				p[i].fd = -1;
				open_fds--;
			} else if (i == 0) {
				keep_tail(r, buf, (size_t)n);
			} else {
				keep_head(r, buf, (size_t)n);
			}
		}
	}
	return 0;
}

static void __attribute__((noreturn)) child_exec(const char *const argv[], int out_fd, int err_fd)
{
	int null = open("/dev/null", O_RDONLY);

	if (null < 0 || dup2(null, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
		_exit(126);
	execv(argv[0], (char *const *)(uintptr_t)argv);
	dprintf(2, "bench: cannot run \"%s\": %s\n", argv[0], strerror(errno));
	_exit(127);
}

/*
 * Run argv[0] (a path) with stdin from /dev/null, capturing its output;
 * ret gets the wall time around fork/exec/wait4 and wait4's rusage.
 */
static int run_argv(const char *const argv[], struct run *ret)
{
	int out_p[2] = {-1, -1}, err_p[2] = {-1, -1}, r = 0;
	struct rusage ru;
	double t0;
	pid_t pid;

	memset(ret, 0, sizeof(*ret));
	if (pipe2(out_p, O_CLOEXEC) < 0 || pipe2(err_p, O_CLOEXEC) < 0) {
		r = -errno;
		goto out;
	}
	t0 = now_s();
	pid = fork();
	if (pid < 0) {
		r = -errno;
		goto out;
	}
	if (pid == 0)
		child_exec(argv, out_p[1], err_p[1]);
	close(out_p[1]);
	close(err_p[1]);
	out_p[1] = err_p[1] = -1;
	r = drain(out_p[0], err_p[0], ret);
	while (wait4(pid, &ret->status, 0, &ru) < 0) {
		if (errno != EINTR) {
			r = -errno;
			goto out;
		}
	}
	ret->wall_s = now_s() - t0;
	ret->cpu_s = tv_s(&ru.ru_utime) + tv_s(&ru.ru_stime);
	ret->sys_s = tv_s(&ru.ru_stime);
	ret->rss_kb = ru.ru_maxrss;
out:
	for (int i = 0; i < 2; i++) {
		if (out_p[i] >= 0)
			close(out_p[i]);
		if (err_p[i] >= 0)
			close(err_p[i]);
	}
	return r;
}

/* Whether the child exited 0; if not, say so and show its stderr. */
static bool run_ok(const struct run *r, const char *what)
{
	if (WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0)
		return true;
	if (WIFEXITED(r->status))
		fprintf(stderr, "bench: %s failed: exit %d\n", what, WEXITSTATUS(r->status));
	else if (WIFSIGNALED(r->status))
		fprintf(stderr, "bench: %s failed: signal %d\n", what, WTERMSIG(r->status));
	else
		fprintf(stderr, "bench: %s failed\n", what);
	if (r->err_len)
		fprintf(stderr, "--- stderr ---\n%s%s--------------\n", r->err,
			r->err[r->err_len - 1] == '\n' ? "" : "\n");
	return false;
}

/* ---- the manifest repository ------------------------------------------ */

static void node_serial(unsigned i, char out[9])
{
	snprintf(out, 9, "%08x", 0xb0000000u + i);
}

static void node_ip(unsigned i, char out[IP_MAX])
{
	snprintf(out, IP_MAX, "10.0.%u.%u", 1 + i / 200, 10 + i % 200);
}

/* Write a file of the repository by temp + rename, as a git checkout would. */
static int repo_file_open(const char *path, char *tmp, size_t size, FILE **ret)
{
	int r = fmt(tmp, size, "%s.tmp", path);

	if (r < 0)
		return r;
	*ret = fopen(tmp, "we");
	return *ret ? 0 : -errno;
}

static int repo_file_close(FILE *f, const char *tmp, const char *path)
{
	bool bad = ferror(f) != 0;

	if (fclose(f) != 0 || bad)
		return -EIO;
	return rename(tmp, path) < 0 ? -errno : 0;
}

static int write_cluster(const struct size_run *s)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	FILE *f = NULL;
	int r;

	r = fmt(path, sizeof(path), "%s/cluster.yaml", s->repo);
	if (r == 0)
		r = repo_file_open(path, tmp, sizeof(tmp), &f);
	if (r < 0)
		return r;
	fputs("# bench_reconcile: a full-DHCP cluster of generated nodes.\n"
	      "apiVersion: bramble/v1alpha1\nkind: Cluster\nmetadata: {name: bench}\nspec:\n"
	      "  server: 10.0.0.1\n  subnet: 10.0.0.0/16\n  router: 10.0.0.254\n"
	      "  dns: [10.0.0.254]\n  dhcp: {mode: full}\n"
	      "  defaults: {image: demo-os, profiles: [base]}\n"
	      "---\napiVersion: bramble/v1alpha1\nkind: Image\nmetadata: {name: demo-os}\n"
	      "spec: {path: demo-os}\n"
	      "---\napiVersion: bramble/v1alpha1\nkind: Profile\nmetadata: {name: base}\nspec:\n"
	      "  boot:\n    configTxt: {arm_64bit: 1, enable_uart: 1}\n"
	      "    cmdline: [\"console=serial0,115200\"]\n"
	      "  root: {mode: shared}\n",
	      f);
	return repo_file_close(f, tmp, path);
}

static void write_node(FILE *f, const struct size_run *s, unsigned i)
{
	char serial[9], ip[IP_MAX];

	node_serial(i, serial);
	node_ip(i, ip);
	fprintf(f,
		"---\napiVersion: bramble/v1alpha1\nkind: Node\nmetadata: {name: "
		"node-%05u}\nspec:\n"
		"  serial: \"%s\"\n  mac: \"dc:a6:32:%02x:%02x:%02x\"\n  ip: %s\n"
		"  hostname: node-%05u\n  model: pi4\n  boot:\n"
		"    configTxt: {gpu_mem: %u, dtparam: \"audio=off\"}\n    cmdline: [quiet]\n",
		i, serial, (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff, ip, i, s->gpu_mem[i]);
}

/* nodes/nodes-FFFF.yaml holds nodes [FFFF*100, FFFF*100+100). */
static int write_nodes_file(const struct size_run *s, unsigned file)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	unsigned i, end = (file + 1) * NODES_PER_FILE;
	FILE *f = NULL;
	int r;

	r = fmt(path, sizeof(path), "%s/nodes/nodes-%04u.yaml", s->repo, file);
	if (r == 0)
		r = repo_file_open(path, tmp, sizeof(tmp), &f);
	if (r < 0)
		return r;
	for (i = file * NODES_PER_FILE; i < end && i < s->n; i++)
		write_node(f, s, i);
	return repo_file_close(f, tmp, path);
}

static int make_repo(struct size_run *s)
{
	char nodes[PATH_MAX];
	unsigned file, i;
	int r;

	s->gpu_mem = calloc(s->n, sizeof(*s->gpu_mem));
	if (!s->gpu_mem)
		return -ENOMEM;
	for (i = 0; i < s->n; i++)
		s->gpu_mem[i] = GPU_MEM_DEFAULT;
	r = fmt(nodes, sizeof(nodes), "%s/nodes", s->repo);
	if (r < 0)
		return r;
	if (mkdir(s->repo, 0755) < 0 || mkdir(nodes, 0755) < 0)
		return -errno;
	r = write_cluster(s);
	for (file = 0; r == 0 && file * NODES_PER_FILE < s->n; file++)
		r = write_nodes_file(s, file);
	return r;
}

/* ---- measuring bramble ------------------------------------------------ */

static void parse_summary(const struct run *r, struct phase *ph)
{
	const char *p = r->out, *line = NULL, *colon;

	/* "applied REV: 3 created, 1 updated, 0 deleted, 9 unchanged..." (the last such line) */
	while ((p = strstr(p, "applied ")) != NULL) {
		if (p == r->out || p[-1] == '\n')
			line = p;
		p++;
	}
	ph->counted = false;
	if (!line)
		return;
	colon = strstr(line, ": ");
	if (colon && sscanf(colon + 2, "%zu created, %zu updated, %zu deleted, %zu unchanged",
			    &ph->created, &ph->updated, &ph->deleted, &ph->unchanged) == 4)
		ph->counted = true;
}

/* One `bramble apply` into root after a sync; -1 when it did not exit 0. */
static int apply_once(struct size_run *s, const char *root, const char *what, struct phase *ph)
{
	const char *argv[] = {s->b->bramble, "apply", "--source",	   s->repo, "--root",
			      root,	     "--set", "dhcp.testCommand=", "-q",    NULL};
	struct run r;
	int q;

	sync();
	q = run_argv(argv, &r);
	if (q < 0) {
		fprintf(stderr, "bench: %s: %s\n", what, strerror(-q));
		return -1;
	}
	if (!run_ok(&r, what))
		return -1;
	ph->wall_s = r.wall_s;
	ph->cpu_s = r.cpu_s;
	ph->sys_s = r.sys_s;
	ph->rss_kb = r.rss_kb;
	parse_summary(&r, ph);
	if (r.rss_kb > s->peak_rss_kb)
		s->peak_rss_kb = r.rss_kb;
	return 0;
}

static int phase_cmp(const void *a, const void *b)
{
	const struct phase *x = a, *y = b;

	return x->wall_s < y->wall_s ? -1 : x->wall_s > y->wall_s;
}

/* The median run by wall time (its CPU and RSS go with it). */
static struct phase median(struct phase *v, size_t n)
{
	qsort(v, n, sizeof(*v), phase_cmp);
	return v[n / 2];
}

static void check_counts(const struct phase *ph, const char *what, size_t want_changed)
{
	size_t changed = ph->created + ph->updated + ph->deleted;

	if (!ph->counted)
		return;
	if (changed != want_changed)
		fprintf(stderr, "bench: warning: %s changed %zu resources, expected %zu\n", what,
			changed, want_changed);
}

/*
 * A steady state is a settled one: bramble does not trust the signature of a
 * directory changed within the last second (a change in the same timestamp
 * tick could hide), so one pass after that second records settled
 * signatures; the no-op runs measured are the passes after it, as in the
 * daemon where passes are an interval apart.
 */
static int measure_noop(struct size_run *s)
{
	struct timespec settle = {1, 100 * 1000 * 1000};
	struct phase v[RUNS], first;
	int i;

	memset(v, 0, sizeof(v));
	memset(&first, 0, sizeof(first));
	nanosleep(&settle, NULL);
	if (apply_once(s, s->out, "settling apply", &first) < 0)
		return -1;
	check_counts(&first, "the settling apply", 0);
	s->noop_first_s = first.wall_s;
	for (i = 0; i < RUNS; i++) {
		if (apply_once(s, s->out, "no-op apply", &v[i]) < 0)
			return -1;
		check_counts(&v[i], "a no-op apply", 0);
	}
	s->noop = median(v, RUNS);
	return 0;
}

/* Three different nodes get a new gpu_mem each: one node's tree changes per apply. */
static int measure_one_node(struct size_run *s)
{
	struct phase v[RUNS];
	int i;

	memset(v, 0, sizeof(v));
	for (i = 0; i < RUNS; i++) {
		unsigned k =
			(unsigned)(((unsigned long)s->n * (unsigned long)(i + 1)) / (RUNS + 1));

		s->gpu_mem[k] = GPU_MEM_DEFAULT * 2 + (unsigned)i;
		if (write_nodes_file(s, k / NODES_PER_FILE) < 0) {
			fprintf(stderr, "bench: cannot edit the manifest of node %u\n", k);
			return -1;
		}
		if (apply_once(s, s->out, "one-node apply", &v[i]) < 0)
			return -1;
		check_counts(&v[i], "a one-node apply", 1);
	}
	s->one = median(v, RUNS);
	return 0;
}

static int measure_bramble(struct size_run *s)
{
	if (measure_noop(s) < 0)
		return -1;
	return measure_one_node(s);
}

/* ---- the reference writer --------------------------------------------- */

static int list_boot(int dfd, const char *prefix, struct boot_list *l)
{
	struct dirent *de;
	DIR *d = fdopendir(dfd);
	int r = 0;

	if (!d) {
		close(dfd);
		return -errno;
	}
	while (r == 0 && (de = readdir(d)) != NULL) {
		char rel[PATH_MAX];
		bool is_dir = de->d_type == DT_DIR;

		if (de->d_name[0] == '.')
			continue;
		if (!*prefix &&
		    (!strcmp(de->d_name, "config.txt") || !strcmp(de->d_name, "cmdline.txt")))
			continue;
		if (l->n == REF_FILES_MAX) {
			r = -E2BIG;
			break;
		}
		r = fmt(rel, sizeof(rel), "%s%s%s", prefix, *prefix ? "/" : "", de->d_name);
		if (r < 0)
			break;
		l->rel[l->n] = strdup(rel);
		if (!l->rel[l->n]) {
			r = -ENOMEM;
			break;
		}
		l->dir[l->n++] = is_dir;
		if (is_dir) {
			int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

			r = sub < 0 ? -errno : list_boot(sub, rel, l);
		}
	}
	closedir(d);
	return r;
}

static int read_small(int dfd, const char *name, char **ret)
{
	char buf[65536];
	ssize_t n;
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	*ret = strdup(buf);
	return *ret ? 0 : -ENOMEM;
}

static void boot_list_release(struct boot_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->rel[i]);
	free(l->config_txt);
	memset(l, 0, sizeof(*l));
}

/* The reference writer's open directories and what it renders. */
struct ref {
	const struct size_run *s;
	const char *root;
	const struct boot_list *boot;
	bool do_fsync;
	int boot_fd, tftp_fd, nfs_fd, hosts_fd, exports_fd, dnsmasq_fd;
	int ident_fd; /* nfs/shared/demo-os/etc/bramble/nodes */
	struct sbuf exports;
	size_t paths;
};

/* Write name in dfd by temp + rename, with an fsync of the temp when asked. */
static int ref_write(const struct ref *x, int dfd, const char *name, const char *data, size_t len)
{
	char tmp[NAME_MAX + 1];
	int fd, r;

	r = fmt(tmp, sizeof(tmp), ".%s.tmp", name);
	if (r < 0)
		return r;
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	r = write_all(fd, data, len);
	if (r == 0 && x->do_fsync && fsync(fd) < 0)
		r = -errno;
	close(fd);
	if (r == 0 && renameat(dfd, tmp, dfd, name) < 0)
		r = -errno;
	return r;
}

static int ref_writef(const struct ref *x, int dfd, const char *name, const char *f, ...)
	__attribute__((format(printf, 4, 5)));

/* ref_write() of a formatted text (at most 8 KiB). */
static int ref_writef(const struct ref *x, int dfd, const char *name, const char *f, ...)
{
	char text[8192];
	va_list ap;
	int n;

	va_start(ap, f);
	n = vsnprintf(text, sizeof(text), f, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(text))
		return -ENAMETOOLONG;
	return ref_write(x, dfd, name, text, (size_t)n);
}

/* A node's generation directory: hard links to the image, its two files. */
static int ref_generation(struct ref *x, unsigned i, const char *serial, int gfd)
{
	size_t k;
	int r = 0;

	for (k = 0; r == 0 && k < x->boot->n; k++) {
		const char *rel = x->boot->rel[k];

		if (x->boot->dir[k])
			r = mkdirat(gfd, rel, 0755) < 0 ? -errno : 0;
		else
			r = linkat(x->boot_fd, rel, gfd, rel, 0) < 0 ? -errno : 0;
		x->paths++;
	}
	if (r == 0)
		r = ref_writef(
			x, gfd, "config.txt",
			"%s\n# bramble: settings of node node-%05u (serial %s); change them in "
			"the repository\n[all]\narm_64bit=1\ndtparam=audio=off\nenable_uart=1\n"
			"gpu_mem=%u\n",
			x->boot->config_txt, i, serial, x->s->gpu_mem[i]);
	if (r == 0)
		r = ref_writef(x, gfd, "cmdline.txt",
			       "console=tty1 quiet console=serial0,115200 root=/dev/nfs "
			       "nfsroot=10.0.0.1:%s/nfs/shared/demo-os,vers=3,tcp ro ip=dhcp "
			       "rootwait overlayroot=tmpfs\n",
			       x->root);
	x->paths += 2;
	return r;
}

/* fsync the directories of a generation (the naive safe way does all of them). */
static int ref_sync_generation(const struct ref *x, int gfd)
{
	size_t k;
	int r = fsync(gfd) < 0 ? -errno : 0;

	for (k = 0; r == 0 && k < x->boot->n; k++) {
		int fd;

		if (!x->boot->dir[k])
			continue;
		fd = openat(gfd, x->boot->rel[k], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		if (fsync(fd) < 0)
			r = -errno;
		close(fd);
	}
	return r;
}

static int ref_tree(struct ref *x, unsigned i, const char *serial)
{
	char gen[64], tmp[64];
	int gfd, r;

	r = fmt(gen, sizeof(gen), ".%s.0123456789abcdef", serial);
	if (r == 0)
		r = fmt(tmp, sizeof(tmp), ".%s.tmp", serial);
	if (r < 0)
		return r;
	if (mkdirat(x->tftp_fd, gen, 0755) < 0)
		return -errno;
	gfd = openat(x->tftp_fd, gen, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (gfd < 0)
		return -errno;
	r = ref_generation(x, i, serial, gfd);
	if (r == 0 && x->do_fsync)
		r = ref_sync_generation(x, gfd);
	close(gfd);
	if (r == 0 && symlinkat(gen, x->tftp_fd, tmp) < 0)
		r = -errno;
	if (r == 0 && renameat(x->tftp_fd, tmp, x->tftp_fd, serial) < 0)
		r = -errno;
	x->paths += 2;
	return r;
}

/* Make the directory name in dfd and open it. */
static int ref_mkdir(struct ref *x, int dfd, const char *name, int *ret)
{
	if (mkdirat(dfd, name, 0755) < 0)
		return -errno;
	*ret = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	x->paths++;
	return *ret < 0 ? -errno : 0;
}

/*
 * A node's identity in the shared root (the files bramble writes since
 * per-node first boot came): nodes/<serial>/etc/{hostname,hosts} and
 * nodes/<serial>/etc/bramble/firstboot.conf.
 */
static int ref_identity(struct ref *x, unsigned i, const char *serial)
{
	int nfd = -1, efd = -1, bfd = -1, r;

	r = ref_mkdir(x, x->ident_fd, serial, &nfd);
	if (r == 0)
		r = ref_mkdir(x, nfd, "etc", &efd);
	if (r == 0)
		r = ref_mkdir(x, efd, "bramble", &bfd);
	if (r == 0)
		r = ref_writef(x, efd, "hostname", "node-%05u\n", i);
	if (r == 0)
		r = ref_writef(x, efd, "hosts",
			       "# Managed by bramble (node node-%05u): changes here are replaced.\n"
			       "127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n"
			       "ff02::1\t\tip6-allnodes\nff02::2\t\tip6-allrouters\n\n127.0.1.1\t"
			       "node-%05u\n",
			       i, i);
	if (r == 0)
		r = ref_writef(x, bfd, "firstboot.conf",
			       "# bramble first-boot settings of node node-%05u, from the "
			       "repository: changes here are replaced.\n# /usr/local/sbin/"
			       "bramble-firstboot applies them at boot when they change.\n",
			       i);
	x->paths += 3;
	if (r == 0 && x->do_fsync && (fsync(efd) < 0 || fsync(bfd) < 0))
		r = -errno;
	if (bfd >= 0)
		close(bfd);
	if (efd >= 0)
		close(efd);
	if (nfd >= 0)
		close(nfd);
	return r;
}

static int ref_node(struct ref *x, unsigned i)
{
	char serial[9], ip[IP_MAX], line[128];
	int r;

	node_serial(i, serial);
	node_ip(i, ip);
	r = ref_tree(x, i, serial);
	if (r == 0)
		r = ref_identity(x, i, serial);
	if (r == 0)
		r = fmt(line, sizeof(line), "dc:a6:32:%02x:%02x:%02x,%s,node-%05u\n",
			(i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff, ip, i);
	if (r == 0)
		r = ref_write(x, x->hosts_fd, serial, line, strlen(line));
	if (r == 0)
		r = sbuf_printf(
			&x->exports,
			"%s/nfs/shared/demo-os %s(ro,sync,no_subtree_check,no_root_squash)\n",
			x->root, ip);
	x->paths += 1;
	return r;
}

static int ref_globals(struct ref *x)
{
	char conf[2048];
	int r;

	r = ref_write(x, x->exports_fd, "bramble.exports", x->exports.data, x->exports.len);
	if (r == 0)
		r = fmt(conf, sizeof(conf),
			"# Managed by bramble for cluster \"bench\" (DHCP mode full): do not "
			"edit;\n"
			"# change the repository instead.\nport=0\n"
			"dhcp-range=10.0.0.0,static,255.255.0.0,3600s\n"
			"dhcp-option=option:router,10.0.0.254\ndhcp-option=option:dns-server,10.0."
			"0.254\n"
			"dhcp-option=66,\"10.0.0.1\"\ndhcp-hostsdir=%s/dnsmasq/hosts.d\n"
			"pxe-service=0,\"Raspberry Pi Boot\"\nenable-tftp\ntftp-root=%s/tftp\n",
			x->root, x->root);
	if (r == 0)
		r = ref_write(x, x->dnsmasq_fd, "bramble.conf", conf, strlen(conf));
	x->paths += 2;
	if (r < 0 || !x->do_fsync)
		return r;
	if (fsync(x->tftp_fd) < 0 || fsync(x->nfs_fd) < 0 || fsync(x->hosts_fd) < 0 ||
	    fsync(x->exports_fd) < 0 || fsync(x->dnsmasq_fd) < 0)
		return -errno;
	return 0;
}

static int open_dir(const char *base, const char *sub, bool create, int *ret)
{
	char path[PATH_MAX];
	int r = fmt(path, sizeof(path), "%s/%s", base, sub);

	if (r < 0)
		return r;
	if (create && mkdir(path, 0755) < 0 && errno != EEXIST)
		return -errno;
	*ret = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return *ret < 0 ? -errno : 0;
}

static int ref_open(struct ref *x, const char *root)
{
	static const char *const ident[] = {
		"nfs/shared", "nfs/shared/demo-os", "nfs/shared/demo-os/etc",
		"nfs/shared/demo-os/etc/bramble", "nfs/shared/demo-os/etc/bramble/nodes"};
	size_t i;
	int r = 0;

	r = open_dir(root, "images/demo-os/boot", false, &x->boot_fd);
	if (r == 0)
		r = open_dir(root, "tftp", true, &x->tftp_fd);
	if (r == 0)
		r = open_dir(root, "nfs", true, &x->nfs_fd);
	if (r == 0)
		r = open_dir(root, "dnsmasq", true, &x->dnsmasq_fd);
	if (r == 0)
		r = open_dir(root, "dnsmasq/hosts.d", true, &x->hosts_fd);
	if (r == 0)
		r = open_dir(root, "exports", true, &x->exports_fd);
	/* The shared root's directories down to nodes/ (bramble copies the image there). */
	for (i = 0; r == 0 && i < sizeof(ident) / sizeof(ident[0]); i++) {
		if (x->ident_fd >= 0)
			close(x->ident_fd);
		r = open_dir(root, ident[i], true, &x->ident_fd);
	}
	return r;
}

static void ref_close(struct ref *x)
{
	int *fds[] = {&x->boot_fd,    &x->tftp_fd,    &x->nfs_fd,  &x->hosts_fd,
		      &x->exports_fd, &x->dnsmasq_fd, &x->ident_fd};
	size_t i;

	for (i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (*fds[i] >= 0)
			close(*fds[i]);
	free(x->exports.data);
}

/* Write everything a cold apply writes into root (empty but for images/); time it. */
static int ref_run(struct size_run *s, const char *root, const struct boot_list *boot,
		   bool do_fsync, struct phase *ph)
{
	struct ref x = {s, root, boot, do_fsync, -1, -1, -1, -1, -1, -1, -1, {NULL, 0, 0}, 0};
	double t0, c0, s0, c1, s1;
	unsigned i;
	int r;

	r = ref_open(&x, root);
	if (r < 0)
		goto out;
	sync();
	t0 = now_s();
	self_cpu(&c0, &s0);
	for (i = 0; r == 0 && i < s->n; i++)
		r = ref_node(&x, i);
	if (r == 0)
		r = ref_globals(&x);
	ph->wall_s = now_s() - t0;
	self_cpu(&c1, &s1);
	ph->cpu_s = c1 - c0;
	ph->sys_s = s1 - s0;
	s->ref_paths = x.paths;
out:
	ref_close(&x);
	if (r < 0)
		fprintf(stderr, "bench: reference writer (%s): %s\n", root, strerror(-r));
	return r;
}

/* The reference writer into root, linking from root's own image store. */
static int ref_measure(struct size_run *s, const char *root, bool do_fsync, struct phase *ph)
{
	struct boot_list boot;
	int fd = -1, r;

	memset(&boot, 0, sizeof(boot));
	r = open_dir(root, "images/demo-os/boot", false, &fd);
	if (r == 0)
		r = read_small(fd, "config.txt", &boot.config_txt);
	if (r == 0)
		r = list_boot(fd, "", &boot); /* takes fd */
	else if (fd >= 0)
		close(fd);
	if (r < 0) {
		fprintf(stderr, "bench: cannot list the image's boot files: %s\n", strerror(-r));
		goto out;
	}
	r = ref_run(s, root, &boot, do_fsync, ph);
out:
	boot_list_release(&boot);
	return r < 0 ? -1 : 0;
}

/* ---- one size, and the report ----------------------------------------- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

static void rm_tree(const char *path)
{
	if (nftw(path, rm_entry, 64, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT)
		fprintf(stderr, "bench: cannot remove %s: %s\n", path, strerror(errno));
}

static int make_image(const struct size_run *s, const char *root)
{
	char script[PATH_MAX], dest[PATH_MAX];
	const char *argv[] = {"/bin/sh", script, dest, NULL};
	struct run r;
	int q;

	q = fmt(script, sizeof(script), "%s/scripts/make-demo-image.sh", s->b->source_dir);
	if (q == 0)
		q = fmt(dest, sizeof(dest), "%s/images/demo-os", root);
	if (q == 0)
		q = run_argv(argv, &r);
	if (q < 0) {
		fprintf(stderr, "bench: make-demo-image.sh: %s\n", strerror(-q));
		return -1;
	}
	return run_ok(&r, "make-demo-image.sh") ? 0 : -1;
}

static int size_paths(struct size_run *s)
{
	int r;

	r = fmt(s->dir, sizeof(s->dir), "%s/n%u", s->b->scratch, s->n);
	if (r == 0)
		r = fmt(s->repo, sizeof(s->repo), "%s/repo", s->dir);
	if (r == 0)
		r = fmt(s->out, sizeof(s->out), "%s/cold-1", s->dir);
	return r;
}

static int size_setup(struct size_run *s)
{
	int r = 0;

	if (mkdir(s->dir, 0755) < 0)
		r = -errno;
	if (r == 0)
		r = make_repo(s);
	if (r < 0)
		fprintf(stderr, "bench: cannot set up %s: %s\n", s->dir, strerror(-r));
	return r < 0 ? -1 : 0;
}

/* A fresh output root <dir>/<name>-<k> holding only its own image store. */
static int make_root(const struct size_run *s, const char *name, int k, char root[PATH_MAX])
{
	char images[PATH_MAX];
	int r;

	r = fmt(root, PATH_MAX, "%s/%s-%d", s->dir, name, k);
	if (r == 0)
		r = fmt(images, sizeof(images), "%s/images", root);
	if (r == 0 && (mkdir(root, 0755) < 0 || mkdir(images, 0755) < 0))
		r = -errno;
	if (r < 0) {
		fprintf(stderr, "bench: cannot make %s/%s-%d: %s\n", s->dir, name, k, strerror(-r));
		return -1;
	}
	return make_image(s, root);
}

/*
 * Cold applies and the two reference writers, in RUNS interleaved rounds,
 * each into a fresh root with its own image store: whichever writes first to
 * a file system pays for warming it up, and a store per root keeps each image
 * file at one link per node (ext4 allows 65,000).  Medians by wall time.
 */
static int measure_rounds(struct size_run *s)
{
	struct phase cold[RUNS], ref_floor[RUNS], ref_sync[RUNS];
	char root[PATH_MAX];
	int k;

	memset(cold, 0, sizeof(cold));
	memset(ref_floor, 0, sizeof(ref_floor));
	memset(ref_sync, 0, sizeof(ref_sync));
	for (k = 0; k < RUNS; k++) {
		if (make_root(s, "cold", k + 1, root) < 0 ||
		    apply_once(s, root, "cold apply", &cold[k]) < 0)
			return -1;
		if (cold[k].counted && (cold[k].created == 0 || cold[k].updated || cold[k].deleted))
			fprintf(stderr, "bench: warning: a cold apply should only create\n");
		if (make_root(s, "ref-floor", k + 1, root) < 0 ||
		    ref_measure(s, root, false, &ref_floor[k]) < 0)
			return -1;
		if (make_root(s, "ref-fsync", k + 1, root) < 0 ||
		    ref_measure(s, root, true, &ref_sync[k]) < 0)
			return -1;
	}
	s->cold = median(cold, RUNS);
	s->ref_floor = median(ref_floor, RUNS);
	s->ref_sync = median(ref_sync, RUNS);
	return 0;
}

static const char *mark(bool pass)
{
	return pass ? "PASS" : "MISS";
}

static void print_phase(const char *name, const struct phase *ph, bool rss)
{
	printf("  %-34s %10.1f %12.1f %8.1f", name, ph->wall_s * 1e3, ph->cpu_s * 1e3,
	       ph->sys_s * 1e3);
	if (rss)
		printf(" %10.1f", (double)ph->rss_kb / 1024.0);
	else
		printf(" %10s", "-");
	if (ph->counted)
		printf("   %zu+ %zu~ %zu- %zu=", ph->created, ph->updated, ph->deleted,
		       ph->unchanged);
	putchar('\n');
}

static void print_size(const struct size_run *s)
{
	double floor_ratio = s->cold.wall_s / s->ref_floor.wall_s;
	double noop_ratio = s->noop.wall_s / s->cold.wall_s;
	double one_ratio = s->one.wall_s / s->noop.wall_s;
	double rss_mb = (double)s->peak_rss_kb / 1024.0;

	printf("\nN = %u nodes (%u manifest files; the reference writes %zu paths)\n", s->n,
	       (s->n + NODES_PER_FILE - 1) / NODES_PER_FILE + 1, s->ref_paths);
	printf("  %-34s %10s %12s %8s %10s   %s\n", "phase", "wall ms", "user+sys ms", "sys ms",
	       "RSS MB", "created+ updated~ deleted- unchanged=");
	print_phase("bramble apply, cold (median of 3)", &s->cold, true);
	printf("  %-34s %10.1f   (after 1.1 s; records settled signatures)\n",
	       "bramble apply, first no-op", s->noop_first_s * 1000);
	print_phase("bramble apply, no-op (median of 3)", &s->noop, true);
	print_phase("bramble apply, one node (median 3)", &s->one, true);
	print_phase("reference, fsync per file (med 3)", &s->ref_sync, false);
	print_phase("reference, no fsync, floor (med 3)", &s->ref_floor, false);
	printf("  %-34s %10s %12s\n", "ratio", "value", "target");
	printf("  %-34s %10.2f %12s   %s\n", "cold / floor", floor_ratio, "<= 1.3",
	       mark(floor_ratio <= TARGET_COLD_OVER_FLOOR));
	/* CPU time: what other processes on a shared machine change least. */
	printf("  %-34s %10.2f\n", "cold / floor, CPU", s->cold.cpu_s / s->ref_floor.cpu_s);
	printf("  %-34s %10.3f %12s   %s\n", "no-op / cold", noop_ratio, "<= 0.10",
	       mark(noop_ratio <= TARGET_NOOP_OVER_COLD));
	printf("  %-34s %10.2f %12s   %s\n", "one node / no-op", one_ratio, "<= 1.3",
	       mark(one_ratio <= TARGET_ONE_OVER_NOOP));
	printf("  %-34s %10.2f\n", "one node / no-op, CPU", s->one.cpu_s / s->noop.cpu_s);
	printf("  %-34s %10s\n", "load average (1 5 15 min)", s->load);
	printf("  %-34s %10.1f %12s   %s\n", "peak RSS (MB, any apply)", rss_mb, "<= 64",
	       mark(rss_mb <= TARGET_RSS_MB));
	printf("  %-34s %10.2f\n", "cold / reference fsync per file",
	       s->cold.wall_s / s->ref_sync.wall_s);
	fflush(stdout);
}

/* The figures of every size as one Markdown table (for docs/benchmarks.md). */
static void print_markdown(const struct size_run *v, size_t n)
{
	size_t i;

	for (i = 0; i < n && !v[i].ok; i++)
		;
	if (i == n)
		return;
	printf("\n| nodes | cold ms | no-op ms | one-node ms | peak RSS MB | ref fsync/file ms | "
	       "ref floor ms | cold/floor | no-op/cold | one-node/no-op |\n"
	       "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
	for (i = 0; i < n; i++) {
		const struct size_run *s = &v[i];
		double a = s->cold.wall_s / s->ref_floor.wall_s,
		       b = s->noop.wall_s / s->cold.wall_s;
		double c = s->one.wall_s / s->noop.wall_s, m = (double)s->peak_rss_kb / 1024.0;

		if (!s->ok)
			continue;
		printf("| %u | %.1f | %.1f | %.1f | %.1f %s | %.1f | %.1f | %.2f %s | %.3f %s | "
		       "%.2f %s |\n",
		       s->n, s->cold.wall_s * 1e3, s->noop.wall_s * 1e3, s->one.wall_s * 1e3, m,
		       mark(m <= TARGET_RSS_MB), s->ref_sync.wall_s * 1e3,
		       s->ref_floor.wall_s * 1e3, a, mark(a <= TARGET_COLD_OVER_FLOOR), b,
		       mark(b <= TARGET_NOOP_OVER_COLD), c, mark(c <= TARGET_ONE_OVER_NOOP));
	}
}

/* The load average, for the figures of a shared machine ("?" when unreadable). */
static void read_load(char *out, size_t size)
{
	FILE *f = fopen("/proc/loadavg", "re");
	double a = 0, b = 0, c = 0;

	if (f && fscanf(f, "%lf %lf %lf", &a, &b, &c) == 3)
		snprintf(out, size, "%.2f %.2f %.2f", a, b, c);
	else
		snprintf(out, size, "?");
	if (f)
		fclose(f);
}

static int run_size(struct size_run *s)
{
	int r;

	if (size_paths(s) < 0) {
		fprintf(stderr, "bench: scratch path too long\n");
		return -1;
	}
	printf("\n[%u nodes] generating the repository in %s\n", s->n, s->dir);
	fflush(stdout);
	r = size_setup(s);
	if (r == 0) {
		printf("[%u nodes] %d rounds of: bramble apply (cold), reference without fsync, "
		       "reference with fsync per file\n",
		       s->n, RUNS);
		fflush(stdout);
		r = measure_rounds(s);
	}
	if (r == 0) {
		printf("[%u nodes] bramble apply: no-op x%d, one node x%d\n", s->n, RUNS, RUNS);
		fflush(stdout);
		r = measure_bramble(s);
	}
	s->ok = r == 0;
	read_load(s->load, sizeof(s->load));
	if (s->ok)
		print_size(s);
	free(s->gpu_mem);
	s->gpu_mem = NULL;
	return r;
}

/* ---- command line ----------------------------------------------------- */

static int parse_size(const char *arg, unsigned *ret)
{
	char *end = NULL;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || !end || *end || end == arg || v < 1 || v > NODES_MAX)
		return -EINVAL;
	*ret = (unsigned)v;
	return 0;
}

static int parse_args(int argc, char **argv, struct bench *b, unsigned *sizes, size_t *n)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--bramble") == 0 && i + 1 < argc) {
			b->bramble = argv[++i];
		} else if (strcmp(argv[i], "--source-dir") == 0 && i + 1 < argc) {
			b->source_dir = argv[++i];
		} else if (*n < SIZES_MAX && parse_size(argv[i], &sizes[*n]) == 0) {
			(*n)++;
		} else {
			fprintf(stderr,
				"usage: bench_reconcile [--bramble PATH] [--source-dir DIR] "
				"[N...]\n"
				"  N: nodes, 1..%d, at most %d sizes (default 100 1000 10000)\n",
				NODES_MAX, SIZES_MAX);
			return -EINVAL;
		}
	}
	if (*n == 0) {
		sizes[(*n)++] = 100;
		sizes[(*n)++] = 1000;
		sizes[(*n)++] = 10000;
	}
	return 0;
}

static int make_scratch(struct bench *b)
{
	const char *base = getenv("BENCH_DIR");
	const char *keep = getenv("BENCH_KEEP");
	int r;

	b->keep = keep && strcmp(keep, "1") == 0;
	if (!base || !*base)
		base = "/tmp";
	if (mkdir(base, 0755) < 0 && errno != EEXIST)
		return -errno;
	r = fmt(b->scratch, sizeof(b->scratch), "%s/bramble-bench.XXXXXX", base);
	if (r < 0)
		return r;
	return mkdtemp(b->scratch) ? 0 : -errno;
}

/*
 * ext4 without a journal (in /proc/fs/ext4 but not in /proc/fs/jbd2) skips
 * inodes freed in the last minute (five, while their inode table block is
 * dirty) when it allocates new ones (fs/ext4/ialloc.c, recently_deleted()),
 * so creating files soon after a large delete, such as the cleanup of a
 * previous run, costs much more.  Say so: such figures are inflated.
 */
static void note_filesystem(const char *dir)
{
	char sys[64], link[PATH_MAX], path[PATH_MAX];
	const char *dev;
	struct stat st;
	ssize_t n;

	if (stat(dir, &st) < 0 ||
	    fmt(sys, sizeof(sys), "/sys/dev/block/%u:%u", major(st.st_dev), minor(st.st_dev)) < 0)
		return;
	n = readlink(sys, link, sizeof(link) - 1);
	if (n < 0)
		return;
	link[n] = '\0';
	dev = strrchr(link, '/') ? strrchr(link, '/') + 1 : link;
	if (fmt(path, sizeof(path), "/proc/fs/ext4/%s", dev) < 0 || access(path, F_OK) < 0)
		return;
	if (fmt(path, sizeof(path), "/proc/fs/jbd2/%s-8", dev) < 0 || access(path, F_OK) == 0)
		return;
	printf("note: the scratch file system (%s) is ext4 without a journal: creating inodes\n"
	       "      soon after many were deleted is slow (ext4 skips recently freed inodes);\n"
	       "      leave 5 minutes after a previous run's cleanup, or compare within one run\n",
	       dev);
}

static void print_machine(const struct bench *b)
{
	struct run r;
	const char *uname_argv[] = {"/bin/uname", "-srm", NULL};
	const char *df_argv[] = {"/bin/df", "-T", b->scratch, NULL};

	printf("bench_reconcile: %s\n", b->bramble);
	printf("cpus: %ld online\n", sysconf(_SC_NPROCESSORS_ONLN));
	if (run_argv(uname_argv, &r) == 0 && r.out_len)
		printf("kernel: %s", r.out);
	if (run_argv(df_argv, &r) == 0 && r.out_len)
		printf("scratch file system (df -T):\n%s", r.out);
	note_filesystem(b->scratch);
	printf("figures are warm-cache: each run follows a sync(), the page cache is not "
	       "dropped\n");
	fflush(stdout);
}

int main(int argc, char **argv)
{
	struct bench b = {BENCH_BRAMBLE, BENCH_SOURCE_DIR, "", false};
	struct size_run runs[SIZES_MAX];
	unsigned sizes[SIZES_MAX];
	size_t n = 0, i;
	int r, failed = 0;

	if (parse_args(argc, argv, &b, sizes, &n) < 0)
		return 64;
	if (access(b.bramble, X_OK) < 0) {
		fprintf(stderr, "bench: cannot run \"%s\": %s\n", b.bramble, strerror(errno));
		return 1;
	}
	r = make_scratch(&b);
	if (r < 0) {
		fprintf(stderr, "bench: cannot make a scratch directory: %s\n", strerror(-r));
		return 1;
	}
	print_machine(&b);
	memset(runs, 0, sizeof(runs));
	for (i = 0; i < n; i++) {
		runs[i].b = &b;
		runs[i].n = sizes[i];
		if (run_size(&runs[i]) < 0)
			failed++;
	}
	print_markdown(runs, n);
	if (b.keep)
		printf("\nscratch kept in %s\n", b.scratch);
	else
		rm_tree(b.scratch);
	return failed ? 1 : 0;
}
