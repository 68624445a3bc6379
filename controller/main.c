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
#include "doctor.h"
#include "image_step.h"
#include "control.h"
#include "gc.h"
#include "git_mirror.h"
#include "git_source.h"
#include "history.h"
#include "http.h"
#include "log.h"
#include "reconcile.h"
#include "status.h"
#include "suspend.h"
#include "../common/atomic.h"
#include "../common/buf.h"
#include "../common/parse.h"
#include "../common/stop.h"

/* The options a command takes beyond the common ones (config, source, paths, --set, -v). */
enum cmd_opt {
	CO_JSON = 1u << 0,
	CO_DRY_RUN = 1u << 1,
	CO_ADOPT = 1u << 2,
	CO_ALLOW_EMPTY = 1u << 3,
	CO_LISTEN = 1u << 4,
	CO_INTERVAL = 1u << 5,
	CO_QUIET = 1u << 6,
	CO_COLOR = 1u << 7,
	CO_NONE = 1u << 8,     /* not even the common ones: version, help */
	CO_DOCTOR = 1u << 9,   /* --probe-dhcp, --as-pi, --interface */
	CO_FORCE = 1u << 10,   /* apply, reconcile: --force past a suspension */
	CO_REASON = 1u << 11,  /* suspend --reason */
	CO_TIMEOUT = 1u << 12, /* reconcile --timeout */
	CO_COUNT = 1u << 13,   /* history -n */
	CO_ACCEPT_SELECTOR = 1u << 14,
	CO_OFFLINE = 1u << 15, /* validate --offline */
};

struct cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
	unsigned opts; /* enum cmd_opt */
};

static int cmd_validate(int argc, char **argv);
static int cmd_plan(int argc, char **argv);
static int cmd_apply(int argc, char **argv);
static int cmd_run(int argc, char **argv);
static int cmd_status(int argc, char **argv);
static int cmd_discover(int argc, char **argv);
static int cmd_images(int argc, char **argv);
static int cmd_doctor(int argc, char **argv);
static int cmd_gc(int argc, char **argv);
static int cmd_version(int argc, char **argv);
static int cmd_help(int argc, char **argv);
static int cmd_history(int argc, char **argv);
static int cmd_suspend(int argc, char **argv);
static int cmd_resume(int argc, char **argv);
static int cmd_reconcile(int argc, char **argv);

#define CO_PASS (CO_ADOPT | CO_ALLOW_EMPTY | CO_QUIET | CO_ACCEPT_SELECTOR)

static const struct cmd commands[] = {
	{"validate", cmd_validate,
	 "check every manifest and render the revision; exit 0 appliable, 1 invalid",
	 CO_JSON | CO_QUIET | CO_OFFLINE},
	{"plan", cmd_plan, "show what apply would change; exit 0 none, 2 pending, 1 error",
	 CO_PASS | CO_JSON | CO_COLOR},
	{"apply", cmd_apply, "make the outputs match the repository (refused while suspended)",
	 CO_PASS | CO_FORCE},
	{"run", cmd_run, "reconcile on a timer, on webhooks and on SIGHUP; serve HTTP endpoints",
	 CO_PASS | CO_LISTEN | CO_INTERVAL},
	{"status", cmd_status, "show the recorded status (--json for the document)", CO_JSON},
	{"history", cmd_history, "show the last passes, newest first (-n N, --json)",
	 CO_JSON | CO_COUNT},
	{"reconcile", cmd_reconcile,
	 "ask the running daemon for a pass now and wait for its result",
	 CO_JSON | CO_FORCE | CO_TIMEOUT},
	{"suspend", cmd_suspend, "stop the daemon's and the timer's passes (--reason TEXT)",
	 CO_REASON},
	{"resume", cmd_resume, "end a suspension: passes run again", 0},
	{"discover", cmd_discover,
	 "print Node manifests for the Pis seen booting that no manifest names", CO_JSON},
	{"doctor", cmd_doctor,
	 "check the netboot server as a Pi needs it; exit 0 only when a Pi would boot",
	 CO_JSON | CO_DOCTOR},
	{"images", cmd_images, "list the image store; 'images prune' removes unused images",
	 CO_QUIET | CO_JSON},
	{"gc", cmd_gc, "remove attic roots past roots.atticRetention and unused images (--dry-run)",
	 CO_DRY_RUN | CO_QUIET | CO_JSON},
	{"version", cmd_version, "print the version", CO_NONE},
	{"help", cmd_help, "show this help, or a command's ('help plan')", CO_NONE},
};

/* One line of the options' help; shown to the commands that take the option. */
struct opt_help {
	unsigned opt; /* enum cmd_opt; 0: every command's */
	const char *text;
};

static const struct opt_help opt_helps[] = {
	{0, "  -c, --config FILE     controller configuration (default " CONFIG_DEFAULT_PATH
	    " if present)\n"},
	{0,
	 "  -s, --source DIR|URL  the manifests: a directory or a git repository (source.url)\n"},
	{0, "      --path SUBDIR     manifests path inside the source (source.path)\n"},
	{0, "  -r, --root DIR        put every output under DIR: DIR/tftp, DIR/nfs, DIR/state,\n"
	    "                        DIR/images, DIR/dnsmasq, DIR/exports\n"},
	{0, "      --tftp-root DIR, --nfs-root DIR, --state-dir DIR, --image-store DIR\n"},
	{0,
	 "      --set KEY=VALUE   any configuration key, e.g. --set dhcp.restartCommand='...'\n"},
	{CO_ALLOW_EMPTY,
	 "      --allow-empty     allow a revision with no nodes to remove every node's files\n"},
	{CO_ADOPT,
	 "      --adopt           replace files in the way that bramble did not create\n"},
	{CO_ACCEPT_SELECTOR,
	 "      --accept-selector-change\n"
	 "                        apply under a selector other than the one last applied\n"},
	{0,
	 "  -v, --verbose         more detail (plan: unchanged resources and new file contents)\n"},
	{CO_QUIET, "  -q, --quiet           only errors\n"},
	{CO_JSON, "      --json            print a JSON document (schema bramble/<command>/v1)\n"},
	{CO_COLOR,
	 "      --color=WHEN      colour the changes: auto (a terminal without NO_COLOR),\n"
	 "                        always or never\n"},
	{CO_OFFLINE, "      --offline         read neither the image store nor the secret files\n"},
	{CO_DRY_RUN, "      --dry-run         list what would be removed, remove nothing\n"},
	{CO_LISTEN, "      --listen ADDR:PORT\n"
		    "                        HTTP address, e.g. 127.0.0.1:9420 or [::1]:9420\n"},
	{CO_INTERVAL, "      --interval DURATION\n"
		      "                        time between passes, e.g. 60s or 5m (+/-10%)\n"},
	{CO_DOCTOR,
	 "      --probe-dhcp IFACE\n"
	 "                        send a Pi's DHCPDISCOVER on IFACE, list every answer\n"},
	{CO_DOCTOR,
	 "      --as-pi SERIAL --interface IFACE\n"
	 "                        boot as that node's bootloader on IFACE (DHCP, TFTP)\n"},
	{CO_FORCE, "      --force           run the pass even while suspended (bramble suspend)\n"},
	{CO_REASON, "      --reason TEXT     why, shown by status (at most 200 bytes)\n"},
	{CO_TIMEOUT, "      --timeout DURATION\n"
		     "                        wait at most this long for the result (default 15m; "
		     "0: no limit)\n"},
	{CO_COUNT, "  -n N                  the last N passes (default: all kept)\n"},
	{0, "  -h, --help            this help\n"},
};

static const char exit_usage[] =
	"\nExit codes: 0 success (plan: nothing to change), 1 failure or invalid revision,\n"
	"2 plan: changes pending, 64 bad usage or configuration, 75 suspended (apply,\n"
	"reconcile); reconcile: 69 no daemon, 77 not permitted, 124 timed out.\n";

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
	OPT_PROBE_DHCP,
	OPT_AS_PI,
	OPT_INTERFACE,
	OPT_COLOR,
	OPT_FORCE,
	OPT_REASON,
	OPT_TIMEOUT,
	OPT_ACCEPT_SELECTOR,
	OPT_OFFLINE,
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
	{"probe-dhcp", required_argument, NULL, OPT_PROBE_DHCP},
	{"as-pi", required_argument, NULL, OPT_AS_PI},
	{"interface", required_argument, NULL, OPT_INTERFACE},
	{"color", required_argument, NULL, OPT_COLOR},
	{"force", no_argument, NULL, OPT_FORCE},
	{"reason", required_argument, NULL, OPT_REASON},
	{"timeout", required_argument, NULL, OPT_TIMEOUT},
	{"accept-selector-change", no_argument, NULL, OPT_ACCEPT_SELECTOR},
	{"offline", no_argument, NULL, OPT_OFFLINE},
	{"verbose", no_argument, NULL, 'v'},
	{"quiet", no_argument, NULL, 'q'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

/* Which enum cmd_opt an option is; 0: one that every command takes. */
static unsigned opt_bit(int opt)
{
	static const int bits[][2] = {
		{OPT_JSON, CO_JSON},
		{OPT_DRY_RUN, CO_DRY_RUN},
		{OPT_ADOPT, CO_ADOPT},
		{OPT_ALLOW_EMPTY, CO_ALLOW_EMPTY},
		{OPT_LISTEN, CO_LISTEN},
		{OPT_INTERVAL, CO_INTERVAL},
		{OPT_COLOR, CO_COLOR},
		{'q', CO_QUIET},
		{OPT_PROBE_DHCP, CO_DOCTOR},
		{OPT_AS_PI, CO_DOCTOR},
		{OPT_INTERFACE, CO_DOCTOR},
		{OPT_FORCE, CO_FORCE},
		{OPT_REASON, CO_REASON},
		{OPT_TIMEOUT, CO_TIMEOUT},
		{'n', CO_COUNT},
		{OPT_ACCEPT_SELECTOR, CO_ACCEPT_SELECTOR},
		{OPT_OFFLINE, CO_OFFLINE},
	};
	size_t i;

	for (i = 0; i < sizeof(bits) / sizeof(bits[0]); i++)
		if (bits[i][0] == opt)
			return (unsigned)bits[i][1];
	return 0;
}

static const struct cmd *cmd_find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

/* "usage: bramble plan [options]", the summary, and the options plan takes. */
static void usage_of(const struct cmd *cmd, FILE *f)
{
	size_t i;

	fprintf(f, "usage: bramble %s%s\n  %s\n\n", cmd->name,
		cmd->opts & CO_NONE		   ? ""
		: strcmp(cmd->name, "images") == 0 ? " [prune] [options]"
						   : " [options]",
		cmd->summary);
	if (cmd->opts & CO_NONE)
		return;
	fputs("Options:\n", f);
	for (i = 0; i < sizeof(opt_helps) / sizeof(opt_helps[0]); i++)
		if (!opt_helps[i].opt || (opt_helps[i].opt & cmd->opts))
			fputs(opt_helps[i].text, f);
	fputs(exit_usage, f);
}

/* Flags that set a path; applied after the config file and --root. */
struct late_flag {
	int opt;
	const char *value;
};

enum color_when {
	COLOR_AUTO,
	COLOR_ALWAYS,
	COLOR_NEVER,
};

struct cli {
	const struct cmd *cmd;
	struct bramble_config cfg;
	struct pass_opts pass;
	bool json;
	bool help;
	bool dry_run;
	struct doctor_opts doctor;
	bool quiet;
	enum color_when color;
	FILE *devnull; /* -q: where the command's output goes */
	/* How cfg was made, kept so that the daemon can make it again on SIGHUP. */
	const char *config_path; /* NULL: no file */
	bool allow_empty;
	struct late_flag late[64];
	size_t n_late;
	bool force;	    /* --force */
	const char *reason; /* --reason */
	uint64_t count;	    /* -n; 0: all */
	unsigned timeout_s; /* --timeout */
};

/* --interval: the same check as source.interval in the file, said as the flag's. */
static int set_interval(struct bramble_config *cfg, const char *v, struct diags *d)
{
	struct diags scratch = DIAGS_INIT;
	struct buf a = BUF_INIT;
	char range[96];
	int r;

	r = buf_printf(&a, "source.interval=%s", v);
	if (r == 0)
		r = config_set_key(cfg, buf_str(&a), &scratch);
	if (r == 0 && scratch.n)
		r = -EINVAL;
	if (r == -EINVAL) {
		if (config_key_range("source", "interval", range, sizeof(range)) < 0)
			snprintf(range, sizeof(range), "see bramble.yaml(5)");
		diags_add(d, NULL,
			  "--interval: bad duration \"%s\": expected e.g. 60s, 5m, 1h (%s)", v,
			  range);
	}
	diags_release(&scratch);
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

/* The options of bramble doctor; false: opt is another one. */
static bool parse_doctor_opt(struct cli *c, int opt)
{
	switch (opt) {
	case OPT_PROBE_DHCP:
		c->doctor.probe_iface = optarg;
		return true;
	case OPT_AS_PI:
		c->doctor.as_pi = optarg;
		return true;
	case OPT_INTERFACE:
		c->doctor.iface = optarg;
		return true;
	default:
		return false;
	}
}

/* "--json" for an option's code, for messages. */
static const char *opt_name(int opt)
{
	size_t i;

	for (i = 0; long_opts[i].name; i++)
		if (long_opts[i].val == opt)
			return long_opts[i].name;
	return "?";
}

/* --color=WHEN */
static int parse_color(struct cli *c, const char *v)
{
	if (strcmp(v, "auto") == 0)
		c->color = COLOR_AUTO;
	else if (strcmp(v, "always") == 0)
		c->color = COLOR_ALWAYS;
	else if (strcmp(v, "never") == 0)
		c->color = COLOR_NEVER;
	else {
		fprintf(stderr,
			"bramble %s: --color: bad value \"%s\": expected auto, always or never\n",
			c->cmd->name, v);
		return -EINVAL;
	}
	return 0;
}

/* --timeout DURATION: "90", "90s", "15m", "2h"; 0 is no limit; at most a week. */
static int parse_timeout(struct cli *c, const char *v)
{
	char num[32];
	size_t n = strlen(v);
	uint64_t x = 0, mul = 1;

	if (n > 0 && n < sizeof(num) && strchr("smh", v[n - 1])) {
		mul = v[n - 1] == 'h' ? 3600 : v[n - 1] == 'm' ? 60 : 1;
		n--;
	}
	snprintf(num, sizeof(num), "%.*s", (int)n, v);
	if (n == 0 || n >= sizeof(num) || parse_u64(num, 10, 7 * 86400 / mul, &x) < 0) {
		fprintf(stderr,
			"bramble %s: --timeout: bad duration \"%s\": expected e.g. 90s, 15m, 2h "
			"(at most 7d), or 0 for no limit\n",
			c->cmd->name, v);
		return -EINVAL;
	}
	c->timeout_s = (unsigned)(x * mul);
	return 0;
}

/* Whether opt means something for the command: -EINVAL (said) if not. */
static int opt_check(const struct cli *c, int opt)
{
	unsigned bit = opt_bit(opt);

	if (bit == CO_JSON && !(c->cmd->opts & bit)) {
		fprintf(stderr,
			"bramble %s: --json: %s has no JSON document yet (validate, plan, "
			"status, history, reconcile, images, doctor, gc and discover have one)\n",
			c->cmd->name, c->cmd->name);
		return -EINVAL;
	}
	if (opt != 'h' && ((c->cmd->opts & CO_NONE) || (bit && !(c->cmd->opts & bit)))) {
		fprintf(stderr, "bramble %s: --%s means nothing for %s\n", c->cmd->name,
			opt_name(opt), c->cmd->name);
		return -EINVAL;
	}
	return 0;
}

/* An option without a value: true when opt is one (and it is now set). */
static bool parse_flag(struct cli *c, int opt)
{
	switch (opt) {
	case 'v':
		c->pass.verbose = true;
		log_set_level(LOG_LEVEL_DEBUG);
		return true;
	case 'q':
		c->quiet = true;
		log_set_level(LOG_LEVEL_ERROR);
		return true;
	case 'h':
		c->help = true;
		return true;
	case OPT_ALLOW_EMPTY:
		c->allow_empty = true;
		return true;
	case OPT_ADOPT:
		c->pass.adopt = true;
		return true;
	case OPT_ACCEPT_SELECTOR:
		c->pass.accept_selector_change = true;
		return true;
	case OPT_JSON:
		c->json = true;
		return true;
	case OPT_DRY_RUN:
		c->dry_run = true;
		return true;
	case OPT_OFFLINE:
		c->pass.offline = true;
		return true;
	case OPT_FORCE:
		c->force = true;
		return true;
	}
	return false;
}

/* One option into c; an option the command does not take is an error, said on stderr. */
static int parse_one(struct cli *c, int opt)
{
	if (opt_check(c, opt) < 0)
		return -EINVAL;
	if (parse_flag(c, opt))
		return 0;
	switch (opt) {
	case 'c':
		c->config_path = optarg;
		return 0;
	case OPT_COLOR:
		return parse_color(c, optarg);
	case OPT_REASON:
		c->reason = optarg;
		return 0;
	case OPT_TIMEOUT:
		return parse_timeout(c, optarg);
	case 'n':
		if (parse_u64(optarg, 10, 1000000, &c->count) == 0 && c->count > 0)
			return 0;
		fprintf(stderr, "bramble %s: -n: bad count \"%s\": expected a number from 1\n",
			c->cmd->name, optarg);
		return -EINVAL;
	}
	if (parse_doctor_opt(c, opt))
		return 0;
	if (c->n_late == sizeof(c->late) / sizeof(c->late[0]))
		return -E2BIG;
	c->late[c->n_late].opt = opt;
	c->late[c->n_late++].value = optarg;
	return 0;
}

/* The command line into c: -EINVAL for bad usage (said on stderr). */
static int parse(struct cli *c, int argc, char **argv)
{
	int opt, r;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":c:s:r:n:vqh", long_opts, NULL)) != -1) {
		if (opt == '?' || opt == ':') {
			fprintf(stderr, "bramble %s: %s \"%s\"\n", c->cmd->name,
				opt == ':' ? "missing value for option" : "unknown option",
				argv[optind - 1]);
			return -EINVAL;
		}
		r = parse_one(c, opt);
		if (r < 0)
			return r;
	}
	if (optind < argc) {
		fprintf(stderr, "bramble %s: unexpected argument \"%s\"\n", c->cmd->name,
			argv[optind]);
		return -EINVAL;
	}
	return 0;
}

/* Where the command's output goes: stdout, or nowhere with -q; colour when asked or on a terminal. */
static int setup_output(struct cli *c)
{
	const char *no_color = getenv("NO_COLOR");

	c->pass.out = stdout;
	c->pass.json = c->json;
	/* -q, and --json: the document alone on stdout (pass_json.c writes it). */
	if (c->quiet || c->json) {
		c->devnull = fopen("/dev/null", "we");
		if (!c->devnull)
			return -errno;
		c->pass.out = c->devnull;
	}
	c->pass.color =
		c->color == COLOR_ALWAYS || (c->color == COLOR_AUTO && !c->quiet &&
					     isatty(STDOUT_FILENO) && !(no_color && no_color[0]));
	return 0;
}

/* Parse the options of a command; returns -1 to go on, or an exit code. */
static int setup(struct cli *c, const char *name, int argc, char **argv)
{
	struct diags d = DIAGS_INIT;
	int r;

	memset(c, 0, sizeof(*c));
	c->cmd = cmd_find(name);
	c->timeout_s = 15 * 60;
	if (config_init(&c->cfg) < 0)
		return EXIT_FAILED;
	if (parse(c, argc, argv) < 0) {
		fprintf(stderr, "Try 'bramble %s --help'.\n", name);
		return EXIT_USAGE;
	}
	if (c->help) {
		usage_of(c->cmd, stdout);
		return EXIT_OK;
	}
	if (!c->config_path && access(CONFIG_DEFAULT_PATH, R_OK) == 0)
		c->config_path = CONFIG_DEFAULT_PATH;
	r = config_build(c, &c->cfg, &d);
	diags_print(&d, stderr);
	if (r < 0 && d.n == 0)
		fprintf(stderr, "bramble %s: cannot make the configuration: %s\n", name,
			strerror(-r));
	diags_release(&d);
	if (r < 0) /* a bad configuration is a usage error; no memory is not */
		return r == -ENOMEM ? EXIT_FAILED : EXIT_USAGE;
	return setup_output(c) < 0 ? EXIT_FAILED : -1;
}

/* What setup() made. */
static void cli_release(struct cli *c)
{
	config_release(&c->cfg);
	if (c->devnull)
		fclose(c->devnull);
	c->devnull = NULL;
}

/* validate, plan, apply and run read a source: without one there is nothing to do. */
static int need_source(const struct cli *c)
{
	if (c->cfg.source)
		return -1;
	fprintf(stderr,
		"bramble %s: no source: give --source DIR|URL or source.url in the configuration\n",
		c->cmd->name);
	return EXIT_USAGE;
}

static int run_pass(enum pass_mode mode, const char *cmd, int argc, char **argv)
{
	struct cli c;
	int code;

	code = setup(&c, cmd, argc, argv);
	if (code < 0)
		code = need_source(&c);
	/* Flux refuses to reconcile a suspended object: so does apply, but for --force. */
	if (code < 0 && mode == PASS_MODE_APPLY && suspend_refuses(&c.cfg, cmd, c.force))
		code = EXIT_SUSPENDED;
	if (code < 0) {
		c.pass.mode = mode;
		code = reconcile_pass(&c.cfg, &c.pass, NULL);
	}
	cli_release(&c);
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
	/* SIGTERM, SIGINT: the pass stops as the daemon's does, "interrupted" */
	if (stop_on_signals() < 0)
		log_warn("cannot install the signal handlers");
	return run_pass(PASS_MODE_APPLY, "apply", argc, argv);
}

/* The HTTP address is checked before the daemon says a word or makes its state directory. */
static int check_listen(const struct cli *c)
{
	struct sockaddr_storage ss;

	if (c->cfg.listen && http_listen_parse(c->cfg.listen, &ss) == 0)
		return -1;
	fprintf(stderr,
		"bramble run: bad listen address \"%s\" (--listen or http.listen): expected e.g. "
		"127.0.0.1:9420 or [::1]:9420\n",
		c->cfg.listen ? c->cfg.listen : "");
	return EXIT_USAGE;
}

static int cmd_run(int argc, char **argv)
{
	struct cli c;
	int code;

	code = setup(&c, "run", argc, argv);
	if (code < 0)
		code = need_source(&c);
	if (code < 0)
		code = check_listen(&c);
	if (code < 0) {
		struct daemon_reload reload = {config_rebuild, &c};

		code = daemon_run(&c.cfg, &c.pass, &reload);
	}
	cli_release(&c);
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
		else if (r == -EBADMSG)
			fprintf(stderr,
				"bramble: %s/status.json is damaged (not a JSON object); the "
				"next pass writes it again\n",
				c.cfg.state_dir);
		code = r < 0 ? EXIT_FAILED : EXIT_OK;
		if (r == 0 && !c.json)
			image_step_status(&c.cfg, stdout);
		if (r == 0 && !c.json) {
			suspend_status_print(c.cfg.state_dir, stdout);
			history_status_print(c.cfg.state_dir, stdout);
		}
	}
	cli_release(&c);
	return code;
}

static int cmd_history(int argc, char **argv)
{
	struct cli c;
	int code;

	code = setup(&c, "history", argc, argv);
	if (code < 0)
		code = history_command(&c.cfg, (size_t)c.count, c.json, stdout);
	cli_release(&c);
	return code;
}

static int cmd_reconcile(int argc, char **argv)
{
	struct cli c;
	int code;

	code = setup(&c, "reconcile", argc, argv);
	if (code < 0)
		code = control_reconcile_command(&c.cfg, c.force, c.timeout_s, c.json, stdout);
	cli_release(&c);
	return code;
}

static int cmd_suspend(int argc, char **argv)
{
	struct cli c;
	int code;

	code = setup(&c, "suspend", argc, argv);
	if (code < 0)
		code = suspend_command(&c.cfg, c.reason);
	cli_release(&c);
	return code;
}

static int cmd_resume(int argc, char **argv)
{
	struct cli c;
	int code;

	code = setup(&c, "resume", argc, argv);
	if (code < 0)
		code = resume_command(&c.cfg);
	cli_release(&c);
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
	if (code < 0 && (prune ? c.json : c.quiet)) {
		fprintf(stderr, "bramble images: %s\n",
			prune ? "--json means nothing for 'images prune' (only for the listing)"
			      : "--quiet means nothing for the listing (only for 'images prune')");
		code = EXIT_USAGE;
	}
	if (code < 0)
		code = image_step_command(&c.cfg, prune, c.json, prune ? c.pass.out : stdout);
	cli_release(&c);
	free(args);
	return code;
}

static int cmd_discover(int argc, char **argv)
{
	struct cli c;
	int code;

	code = setup(&c, "discover", argc, argv);
	if (code < 0)
		code = discover_command(&c.cfg, c.json, stdout);
	cli_release(&c);
	return code;
}

static int cmd_doctor(int argc, char **argv)
{
	struct cli c;
	int code;

	code = setup(&c, "doctor", argc, argv);
	if (code < 0) {
		c.doctor.json = c.json;
		c.doctor.wait_ms = 2000;
		code = doctor_command(&c.cfg, &c.doctor, stdout);
	}
	config_release(&c.cfg);
	return code;
}

static int cmd_gc(int argc, char **argv)
{
	struct cli c;
	int code;

	code = setup(&c, "gc", argc, argv);
	if (code < 0)
		code = c.json ? gc_json(&c.cfg, c.dry_run, stdout)
			      : gc_run(&c.cfg, c.dry_run, c.pass.out);
	cli_release(&c);
	return code;
}

/* version and help take no option but --help (help takes the name of a command). */
static int no_args(const char *name, int argc, char **argv)
{
	if (argc < 2)
		return -1;
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage_of(cmd_find(name), stdout);
		return EXIT_OK;
	}
	fprintf(stderr, "bramble %s: unexpected %s \"%s\"\nTry 'bramble %s --help'.\n", name,
		argv[1][0] == '-' ? "option" : "argument", argv[1], name);
	return EXIT_USAGE;
}

static int cmd_version(int argc, char **argv)
{
	int code = no_args("version", argc, argv);

	if (code >= 0)
		return code;
	printf("bramble %s\n", BRAMBLE_VERSION);
	return EXIT_OK;
}

/* bramble help [CMD]: help CMD is CMD --help. */
static int cmd_help(int argc, char **argv)
{
	const struct cmd *cmd = argc >= 2 ? cmd_find(argv[1]) : NULL;
	size_t i;

	if (cmd && argc == 2) {
		usage_of(cmd, stdout);
		return EXIT_OK;
	}
	if (argc >= 2 && !cmd) {
		fprintf(stderr, "bramble help: unknown command \"%s\"; try 'bramble help'\n",
			argv[1]);
		return EXIT_USAGE;
	}
	if (cmd)
		return no_args("help", argc - 1, argv + 1);
	printf("usage: bramble <command> [options]\n\n"
	       "bramble keeps a netboot server (TFTP tree, config.txt/cmdline.txt, NFS roots and\n"
	       "exports, dnsmasq) exactly as a repository of manifests says.\n\nCommands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		printf("  %-10s %s\n", commands[i].name, commands[i].summary);
	printf("\n'bramble help COMMAND' (or 'bramble COMMAND --help') shows a command's "
	       "options.\n%s",
	       exit_usage);
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	const struct cmd *cmd;

	/* the git fetch process (git_mirror.h): hidden, and before anything else */
	if (argc == 3 && strcmp(argv[1], GIT_SOURCE_FETCH_COMMAND) == 0)
		git_mirror_main(argv[2]);
	(void)git_source_init();
	log_init(LOG_LEVEL_INFO);
	/* A temp of the atomic writer goes with a fatal signal (the daemon's
	 * own handlers, installed later, finish the pass instead). */
	if (atomic_install_signal_cleanup() < 0)
		log_warn("cannot install the signal handlers");
	if (argc < 2) {
		cmd_help(1, argv);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
		return cmd_help(1, argv);
	if (strcmp(argv[1], "--version") == 0)
		return cmd_version(argc - 1, argv + 1);
	cmd = cmd_find(argv[1]);
	if (cmd)
		return cmd->fn(argc - 1, argv + 1);
	fprintf(stderr, "bramble: unknown command \"%s\"; try 'bramble help'\n", argv[1]);
	return EXIT_USAGE;
}
