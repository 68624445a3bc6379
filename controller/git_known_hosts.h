/*
 * git_known_hosts: check an SSH server's host key against an OpenSSH
 * known_hosts file, so that a git source over SSH never talks to a host it
 * does not know.  Plain and hashed ("|1|salt|hash") host names, patterns
 * with * and ?, negations, "[host]:port" entries and @revoked lines are
 * understood; @cert-authority lines are ignored (no certificates).
 */
#ifndef BRAMBLE_GIT_KNOWN_HOSTS_H
#define BRAMBLE_GIT_KNOWN_HOSTS_H

#include <stddef.h>

enum known_host {
	KNOWN_HOST_MATCH,      /* a line for the host has this very key */
	KNOWN_HOST_MISMATCH,   /* lines for the host have other keys of this type */
	KNOWN_HOST_OTHER_TYPE, /* lines for the host have only keys of other types */
	KNOWN_HOST_UNKNOWN,    /* no line for the host */
	KNOWN_HOST_REVOKED,    /* the key is listed as @revoked */
};

/*
 * Look host (lower case is not required) on port up in the known_hosts text
 * and compare key, the public key blob in SSH wire format as the server sent
 * it (type name first).  Returns 0 with the verdict in *ret, or -ENOMEM.
 */
int known_hosts_check(const char *text, size_t len, const char *host, unsigned port,
		      const unsigned char *key, size_t key_len, enum known_host *ret);

/* The key type named in an SSH wire-format key blob ("ssh-ed25519"), into out. */
void known_hosts_key_type(const unsigned char *key, size_t key_len, char *out, size_t size);

#endif
