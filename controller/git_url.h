/*
 * git_url: what the git source needs to know about a repository URL without
 * a URL library: a form that is safe to show (no password), the port of an
 * SSH URL (for known_hosts), and scrubbing secrets out of messages that come
 * from libgit2.
 */
#ifndef BRAMBLE_GIT_URL_H
#define BRAMBLE_GIT_URL_H

#include <stdbool.h>

#include "../common/buf.h"

/*
 * A copy of url that can be shown and stored: a password in the user part
 * ("https://user:secret@host/") becomes "***".  Returns 0 or -ENOMEM.
 */
int git_url_redact(const char *url, char **ret);

/* Whether url goes over ssh: ssh://, ssh+git://, git+ssh:// or scp-style host:path. */
bool git_url_is_ssh(const char *url);

/* The port of an ssh:// URL (ssh://host:2222/x), else 22 (also scp-style). */
unsigned git_url_ssh_port(const char *url);

/* The password inside url's user part, as a new string; *ret NULL when none. */
int git_url_password(const char *url, char **ret);

/* Replace every occurrence of secret in b by with (secret NULL or "": nothing). */
int git_url_scrub(struct buf *b, const char *secret, const char *with);

#endif
