/*
 * bramble: a declarative GitOps netboot controller for Raspberry Pi clusters.
 * One table of commands, each cmd_x(argc, argv).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "discover.h"
#include "image_step.h"
#include "gc.h"
#include "log.h"
#include "reconcile.h"
#include "status.h"
#include "../common/atomic.h"
#include "../common/buf.h"

struct cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

static int cmd_validate(int argc, char **argv);
static int cmd_plan(int argc, char **argv);
static int cmd_apply(int argc, char **argv);
static int cmd_run(int argc, char **argv);
static int cmd_status(int argc, char **argv);
static int cmd_discover(int argc, char **argv);
static int cmd_images(int argc, char **argv);
static int cmd_gc(int argc, char **argv);
static int cmd_version(int argc, char **argv);
static int cmd_help(int argc, char **argv);

static const struct cmd commands[] = {
	{"validate", cmd_validate, "check every manifest; exit 0 valid, 1 invalid"},
	{"plan", cmd_plan, "show what apply would change; exit 0 none, 2 pending, 1 error"},
	{"apply", cmd_apply, "make the outputs match the repository"},
	{"run", cmd_run, "reconcile on a timer, on webhooks and on SIGHUP; serve HTTP endpoints"},
	{"status", cmd_status, "show the recorded status (--json for the document)"},
	{"discover", cmd_discover,
	 "print Node manifests for the Pis seen booting that no manifest names"},
	{"images", cmd_images, "list the image store; 'images prune' removes unused images"},
	{"gc", cmd_gc,
	 "remove attic roots past roots.atticRetention and unused images (--dry-run)"},
	{"version", cmd_version, "print the version"},
	{"help", cmd_help, "show this help"},
};

static const char common_usage[] =
	"Options of every command:\n"
	"  -c, --config FILE     controller configuration (default " CONFIG_DEFAULT_PATH
	" if present)\n"
	"  -s, --source DIR|URL  the manifests: a directory or a git repository (source.url)\n"
	"      --path SUBDIR     manifests path inside the source (source.path)\n"
	"  -r, --root DIR        put every output under DIR: DIR/tftp, DIR/nfs, DIR/state,\n"
	"                        DIR/images, DIR/dnsmasq, DIR/exports\n"
	"      --tftp-root DIR, --nfs-root DIR, --state-dir DIR, --image-store DIR\n"
	"      --set KEY=VALUE   any configuration key, e.g. --set dhcp.restartCommand='...'\n"
	"      --allow-empty     allow a revision with no nodes to remove every node's files\n"
	"      --adopt           replace files in the way that bramble did not create\n"
	"  -v, --verbose         more detail (plan: unchanged resources and new file contents)\n"
	"  -q, --quiet           only errors\n"
	"      --json            (status) print the JSON document\n"
	"      --dry-run         (gc) list what would be removed, remove nothing\n"
	"      --listen ADDR:PORT\n"
	"                        (run) HTTP address, e.g. 127.0.0.1:9420 or [::1]:9420\n"
	"      --interval DURATION\n"
	"                        (run) time between passes, e.g. 60s or 5m (+/-10%)\n"
	"  -h, --help            this help\n"
	"\nExit codes: 0 success (plan: nothing to change), 1 failure or invalid revision,\n"
	"2 plan: changes pending, 64 bad usage or configuration.\n";

enum {
	OPT_PATH = 256,
	OPT_TFTP,
	OPT_NFS,
	OPT_STATE,
	OPT_IMAGES,
	OPT_SET,
	OPT_ALLOW_EMPTY,
	OPT_ADOPT,
	OPT_JSON,
	OPT_LISTEN,
	OPT_INTERVAL,
	OPT_DRY_RUN,
};

static const struct option long_opts[] = {
	{"config", required_argument, NULL, 'c'},
	{"source", required_argument, NULL, 's'},
	{"root", required_argument, NULL, 'r'},
	{"path", required_argument, NULL, OPT_PATH},
	{"tftp-root", required_argument, NULL, OPT_TFTP},
	{"nfs-root", required_argument, NULL, OPT_NFS},
	{"state-dir", required_argument, NULL, OPT_STATE},
	{"image-store", required_argument, NULL, OPT_IMAGES},
	{"set", required_argument, NULL, OPT_SET},
	{"allow-empty", no_argument, NULL, OPT_ALLOW_EMPTY},
	{"adopt", no_argument, NULL, OPT_ADOPT},
	{"json", no_argument, NULL, OPT_JSON},
	{"listen", required_argument, NULL, OPT_LISTEN},
	{"interval", required_argument, NULL, OPT_INTERVAL},
	{"dry-run", no_argument, NULL, OPT_DRY_RUN},
	{"verbose", no_argument, NULL, 'v'},
	{"quiet", no_argument, NULL, 'q'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

static void usage_of(const char *cmd, FILE *f)
{
	size_t i;

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, cmd) == 0)
			fprintf(f, "usage: bramble %s [options]\n  %s\n\n", cmd,
				commands[i].summary);
	fputs(common_usage, f);
}

/* Flags that set a path; applied after the config file and --root. */
struct late_flag {
	int opt;
	const char *value;
};

struct cli {
	struct bramble_config cfg;
	struct pass_opts pass;
	bool json;
	bool help;
	bool dry_run;
	/* How cfg was made, kept so that the daemon can make it again on SIGHUP. */
	const char *config_path; /* NULL: no file */
	bool allow_empty;
	struct late_flag late[64];
	size_t n_late;
};

/* --interval: the same check as source.interval in the file. */
static int set_interval(struct bramble_config *cfg, const char *v, struct diags *d)
{
	struct buf a = BUF_INIT;
	size_t before = d->n;
	int r;

	r = buf_printf(&a, "source.interval=%s", v);
	if (r == 0)
		r = config_set_key(cfg, buf_str(&a), d);
	if (r == 0 && d->n > before)
		r = -EINVAL;
	buf_release(&a);
	return r;
}

static int apply_late(struct bramble_config *cfg, const struct late_flag *late, size_t n,
		      struct diags *d)
{
	size_t i;
	int r = 0;

	for (i = 0; r == 0 && i < n; i++) {
		const char *v = late[i].value;

		switch (late[i].opt) {
		case 's':
			r = config_set(&cfg->source, v);
			break;
		case OPT_PATH:
			r = config_set(&cfg->source_path, v);
			break;
		case 'r':
			r = config_set_root(cfg, v);
			break;
		case OPT_TFTP:
			r = config_set(&cfg->tftp_root, v);
			break;
		case OPT_NFS:
			r = config_set(&cfg->nfs_root, v);
			break;
		case OPT_STATE:
			r = config_set(&cfg->state_dir, v);
			break;
		case OPT_IMAGES:
			r = config_set(&cfg->image_store, v);
			break;
		case OPT_SET:
			r = config_set_key(cfg, v, d);
			break;
		case OPT_LISTEN:
			r = config_set(&cfg->listen, v);
			break;
		case OPT_INTERVAL:
			r = set_interval(cfg, v, d);
			break;
		}
	}
	return r;
}

/*
 * Make cfg from the defaults, the configuration file and the flags, in that
 * order.  Every error is added to d (a file that cannot be read too).  cfg
 * must be config_init()ed.
 */
static int config_build(const struct cli *c, struct bramble_config *cfg, struct diags *d)
{
	int r;

	r = c->config_path ? config_load(cfg, c->config_path, d) : 0;
	if (r < 0 && r != -EINVAL)
		diags_add(d, NULL, "cannot read the configuration \"%s\": %s", c->config_path,
			  strerror(-r));
	if (r == 0)
		r = apply_late(cfg, c->late, c->n_late, d);
	if (r == 0 && c->allow_empty)
		cfg->allow_empty = true;
	if (r == 0)
		r = config_absolutize(cfg);
	if (r == 0)
		r = config_check_files(cfg, d);
	return r;
}

/* The daemon's SIGHUP: the configuration made anew, as at start. */
static int config_rebuild(void *arg, struct bramble_config *ret, struct diags *d)
{
	const struct cli *c = arg;
	int r;

	r = config_init(ret);
	return r < 0 ? r : config_build(c, ret, d);
}

static int parse(struct cli *c, int argc, char **argv)
{
	struct diags d = DIAGS_INIT;
	int opt, r;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "c:s:r:vqh", long_opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			c->config_path = optarg;
			break;
		case 'v':
			c->pass.verbose = true;
			log_set_level(LOG_LEVEL_DEBUG);
			break;
		case 'q':
			log_set_level(LOG_LEVEL_ERROR);
			break;
		case 'h':
			c->help = true;
			break;
		case OPT_ALLOW_EMPTY:
			c->allow_empty = true;
			break;
		case OPT_ADOPT:
			c->pass.adopt = true;
			break;
		case OPT_JSON:
			c->json = true;
			break;
		case OPT_DRY_RUN:
			c->dry_run = true;
			break;
		case '?':
			return -EINVAL;
		default:
			if (c->n_late == sizeof(c->late) / sizeof(c->late[0]))
				return -E2BIG;
			c->late[c->n_late].opt = opt;
			c->late[c->n_late++].value = optarg;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "bramble: unexpected argument \"%s\"\n", argv[optind]);
		return -EINVAL;
	}
	if (!c->config_path && access(CONFIG_DEFAULT_PATH, R_OK) == 0)
		c->config_path = CONFIG_DEFAULT_PATH;
	r = config_build(c, &c->cfg, &d);
	diags_print(&d, stderr);
	diags_release(&d);
	return r;
}

/* Parse the options of a command; returns -1 to go on, or an exit code. */
static int setup(struct cli *c, const char *cmd, int argc, char **argv)
{
	memset(c, 0, sizeof(*c));
	c->pass.out = stdout;
	if (config_init(&c->cfg) < 0)
		return EXIT_FAILED;
	if (parse(c, argc, argv) < 0) {
		fprintf(stderr, "Try 'bramble %s --help'.\n", cmd);
		return EXIT_USAGE;
	}
	if (c->help) {
		usage_of(cmd, stdout);
		return EXIT_OK;
	}
	return -1;
}

static int run_pass(enum pass_mode mode, const char *cmd, int argc, char **argv)
{
	struct cli c;
	int code;

	code = setup(&c, cmd, argc, argv);
	if (code < 0) {
		c.pass.mode = mode;
		code = reconcile_pass(&c.cfg, &c.pass, NULL);
	}
	config_release(&c.cfg);
	return code;
}

static int cmd_validate(int argc, char **argv)
{
	return run_pass(PASS_MODE_VALIDATE, "validate", argc, argv);
}

static int cmd_plan(int argc, char **argv)
{
	return run_pass(PASS_MODE_PLAN, "plan", argc, argv);
}

static int cmd_apply(int argc, char **argv)
{
	return run_pass(PASS_MODE_APPLY, "apply", argc, argv);
}

static int cmd_run(int argc, char **argv)
{
	struct cli c;
	int code;

	code = setup(&c, "run", argc, argv);
	if (code < 0) {
		struct daemon_reload reload = {config_rebuild, &c};

		code = daemon_run(&c.cfg, &c.pass, &reload);
	}
	config_release(&c.cfg);
	return code;
}

static int cmd_status(int argc, char **argv)
{
	struct cli c;
	int code, r;

	code = setup(&c, "status", argc, argv);
	if (code < 0) {
		r = status_print(c.cfg.state_dir, c.json, stdout);
		if (r == -ENOENT)
			fprintf(stderr,
				"bramble: no status recorded in %s yet: run bramble apply\n",
				c.cfg.state_dir);
		code = r < 0 ? EXIT_FAILED : EXIT_OK;
		if (r == 0 && !c.json)
			image_step_status(&c.cfg, stdout);
	}
	config_release(&c.cfg);
	return code;
}

/* bramble images [prune]: "prune" (or --prune) is taken out before the options. */
static int cmd_images(int argc, char **argv)
{
	char **args = calloc((size_t)argc + 1, sizeof(*args));
	bool prune = false;
	struct cli c;
	int i, n = 0, code;

	if (!args)
		return EXIT_FAILED;
	for (i = 0; i < argc; i++) {
		if (i > 0 && (strcmp(argv[i], "prune") == 0 || strcmp(argv[i], "--prune") == 0))
			prune = true;
		else
			args[n++] = argv[i];
	}
	code = setup(&c, "images", n, args);
	if (code < 0)
		code = image_step_command(&c.cfg, prune, stdout);
	config_release(&c.cfg);
	free(args);
	return code;
}

static int cmd_discover(int argc, char **argv)
{
	struct cli c;
	int code;

	code = setup(&c, "discover", argc, argv);
	if (code < 0)
		code = discover_command(&c.cfg, stdout);
	config_release(&c.cfg);
	return code;
}

static int cmd_gc(int argc, char **argv)
{
	struct cli c;
	int code;

	code = setup(&c, "gc", argc, argv);
	if (code < 0)
		code = gc_run(&c.cfg, c.dry_run, stdout);
	config_release(&c.cfg);
	return code;
}

static int cmd_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("bramble %s\n", BRAMBLE_VERSION);
	return EXIT_OK;
}

static int cmd_help(int argc, char **argv)
{
	size_t i;

	(void)argc;
	(void)argv;
	printf("usage: bramble <command> [options]\n\n"
	       "bramble keeps a netboot server (TFTP tree, config.txt/cmdline.txt, NFS roots and\n"
	       "exports, dnsmasq) exactly as a repository of manifests says.\n\nCommands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		printf("  %-10s %s\n", commands[i].name, commands[i].summary);
	printf("\n%s", common_usage);
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	size_t i;

	log_init(LOG_LEVEL_INFO);
	/* A temp of the atomic writer goes with a fatal signal (the daemon's
	 * own handlers, installed later, finish the pass instead). */
	if (atomic_install_signal_cleanup() < 0)
		log_warn("cannot install the signal handlers");
	if (argc < 2) {
		cmd_help(argc, argv);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
		return cmd_help(argc, argv);
	if (strcmp(argv[1], "--version") == 0)
		return cmd_version(argc, argv);
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "bramble: unknown command \"%s\"; try 'bramble help'\n", argv[1]);
	return EXIT_USAGE;
}
