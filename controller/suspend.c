#include "suspend.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "reconcile.h"
#include "state_text.h"
#include "../common/fsutil.h"
#include "../common/parse.h"

#define SUSPEND_READ_MAX 4096
#define SUSPEND_HINT	 "`bramble resume` removes it, `bramble suspend` writes it anew"

static int parse_line(struct state_reader *sr, char *line, struct suspension *s)
{
	char *f[STATE_MAX_FIELDS];
	size_t n;
	int r;

	r = state_split(sr, line, '\t', 2, 2, f, &n, "a key (by, since, reason), a tab, a value");
	if (r < 0)
		return r;
	if (strcmp(f[0], "since") == 0)
		return state_i64(sr, "since", f[1], 0, INT64_MAX, &s->since);
	if (strcmp(f[0], "by") == 0 && strlen(f[1]) < sizeof(s->by))
		state_text_copy(s->by, sizeof(s->by), f[1]);
	else if (strcmp(f[0], "reason") == 0 && strlen(f[1]) < sizeof(s->reason))
		state_text_copy(s->reason, sizeof(s->reason), f[1]);
	else
		return state_error(
			sr, "bad line \"%.40s\": expected by, since or reason, not too long", f[0]);
	return 0;
}

int suspend_load(const char *state_dir, struct suspension *ret, struct buf *err)
{
	char *path = path_join(state_dir, SUSPEND_FILE), *data = NULL, *line = NULL;
	struct state_reader sr;
	size_t len = 0;
	int r;

	memset(ret, 0, sizeof(*ret));
	if (!path)
		return -ENOMEM;
	r = file_read(path, SUSPEND_READ_MAX, &data, &len);
	free(path);
	if (r == -ENOENT)
		return 0;
	ret->on = true; /* there, even damaged: suspended */
	if (r < 0) {
		(void)buf_printf(err, "%s: cannot read it: %s", SUSPEND_FILE,
				 file_read_strerror(r));
		return 0;
	}
	state_reader_init(&sr, SUSPEND_FILE, SUSPEND_HINT, data, len, err);
	while ((r = state_next_line(&sr, &line)) != 0)
		if (r > 0)
			(void)parse_line(&sr, line, ret);
	free(data);
	return 0;
}

bool suspend_is_on(const char *state_dir)
{
	char *path = path_join(state_dir, SUSPEND_FILE);
	bool on = !path || faccessat(AT_FDCWD, path, F_OK, AT_SYMLINK_NOFOLLOW) == 0 ||
		  errno != ENOENT;

	free(path);
	return on;
}

int suspend_describe(const struct suspension *s, struct buf *out)
{
	char since[32];

	state_text_time(s->since, since);
	return buf_printf(out, "suspended by %s since %s%s%s%s", s->by[0] ? s->by : "(unknown)",
			  s->since ? since : "(unknown)", s->reason[0] ? " (reason: " : "",
			  s->reason, s->reason[0] ? ")" : "");
}

json_t *suspend_json(const struct suspension *s)
{
	char since[32];

	if (!s->on)
		return json_null();
	state_text_time(s->since, since);
	return json_pack("{s:s?, s:s?, s:s?}", "by", s->by[0] ? s->by : NULL, "since",
			 s->since ? since : NULL, "reason", s->reason[0] ? s->reason : NULL);
}

/* Who suspends: the user, and the one sudo ran for. */
static void who(char *out, size_t size)
{
	struct passwd *pw = getpwuid(getuid());
	const char *sudo = getenv("SUDO_USER");
	char uid[32];

	snprintf(uid, sizeof(uid), "uid %u", (unsigned)getuid());
	if (sudo && *sudo)
		snprintf(out, size, "%s (sudo from %s)", pw ? pw->pw_name : uid, sudo);
	else
		snprintf(out, size, "%s", pw ? pw->pw_name : uid);
}

static int write_file(const char *state_dir, const struct suspension *s)
{
	struct buf text = BUF_INIT;
	int r;

	r = mkdir_p(state_dir, 0755);
	if (r == 0)
		r = buf_printf(&text, "by\t%s\nsince\t%" PRId64 "\nreason\t%s\n", s->by, s->since,
			       s->reason);
	if (r == 0)
		r = state_text_write(state_dir, SUSPEND_FILE, &text, ATOMIC_SYNC_DIR);
	buf_release(&text);
	return r;
}

int suspend_command(const struct bramble_config *cfg, const char *reason)
{
	struct suspension s, old;
	struct buf err = BUF_INIT, m = BUF_INIT;
	int r;

	if (reason && strlen(reason) > SUSPEND_REASON_MAX) {
		fprintf(stderr, "bramble suspend: --reason: %zu bytes, at most %d\n",
			strlen(reason), SUSPEND_REASON_MAX);
		return EXIT_USAGE;
	}
	(void)suspend_load(cfg->state_dir, &old, &err);
	memset(&s, 0, sizeof(s));
	s.on = true;
	s.since = old.on && old.since ? old.since : (int64_t)time(NULL);
	who(s.by, sizeof(s.by));
	state_text_copy(s.reason, sizeof(s.reason), reason ? reason : "");
	r = write_file(cfg->state_dir, &s);
	if (r == 0)
		r = suspend_describe(&s, &m);
	if (r < 0)
		fprintf(stderr, "bramble suspend: cannot write %s/%s: %s\n", cfg->state_dir,
			SUSPEND_FILE, strerror(-r));
	else
		printf("%s%s: the daemon and the timer skip their passes, bramble apply and "
		       "bramble reconcile refuse without --force; bramble resume ends it\n",
		       old.on ? "still " : "", buf_str(&m));
	buf_release(&err);
	buf_release(&m);
	return r < 0 ? EXIT_FAILED : EXIT_OK;
}

int resume_command(const struct bramble_config *cfg)
{
	int dirfd = open(cfg->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r = 0;

	if (dirfd < 0 && errno != ENOENT)
		r = -errno;
	if (dirfd >= 0 && unlinkat(dirfd, SUSPEND_FILE, 0) < 0)
		r = -errno;
	if (dirfd >= 0 && r == 0 && fsync(dirfd) < 0)
		r = -errno;
	if (dirfd >= 0)
		close(dirfd);
	if (r == -ENOENT || (r == 0 && dirfd < 0)) {
		printf("not suspended: nothing to resume (%s)\n", cfg->state_dir);
		return EXIT_OK;
	}
	if (r < 0) {
		fprintf(stderr, "bramble resume: cannot remove %s/%s: %s\n", cfg->state_dir,
			SUSPEND_FILE, strerror(-r));
		return EXIT_FAILED;
	}
	printf("resumed: the daemon's next pass (timer, webhook, SIGHUP or bramble reconcile) "
	       "runs as usual\n");
	return EXIT_OK;
}

bool suspend_refuses(const struct bramble_config *cfg, const char *cmd, bool force)
{
	struct suspension s;
	struct buf err = BUF_INIT, m = BUF_INIT;

	(void)suspend_load(cfg->state_dir, &s, &err);
	if (s.on)
		(void)suspend_describe(&s, &m);
	if (err.len)
		fprintf(stderr, "bramble %s: %s/%s\n", cmd, cfg->state_dir, buf_str(&err));
	if (s.on && force)
		fprintf(stderr, "bramble %s: %s; --force: going on\n", cmd, buf_str(&m));
	else if (s.on)
		fprintf(stderr,
			"bramble %s: %s: nothing done; bramble resume ends the suspension, or "
			"--force runs this one pass anyway\n",
			cmd, buf_str(&m));
	buf_release(&err);
	buf_release(&m);
	return s.on && !force;
}

void suspend_status_merge(json_t *st, const char *state_dir)
{
	struct suspension s;
	struct buf err = BUF_INIT;

	(void)suspend_load(state_dir, &s, &err);
	json_object_set_new(st, "suspended", suspend_json(&s));
	buf_release(&err);
}

void suspend_status_print(const char *state_dir, FILE *out)
{
	struct suspension s;
	struct buf err = BUF_INIT, m = BUF_INIT;

	(void)suspend_load(state_dir, &s, &err);
	if (s.on && suspend_describe(&s, &m) == 0)
		fprintf(out,
			"\nSUSPENDED: %s: the daemon and the timer skip their passes "
			"(bramble resume)\n",
			buf_str(&m));
	if (err.len)
		fprintf(out, "  (%s)\n", buf_str(&err));
	buf_release(&err);
	buf_release(&m);
}
