/*
 * git_auth: the credential and certificate callbacks of the fetch process.
 * Credentials come from files only (source.tokenFile, source.sshKeyFile);
 * each is offered once, so a refused one ends the fetch at once instead of
 * libgit2 asking again and again.  TLS verification is never overridden.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../common/fsutil.h"
#include "git_known_hosts.h"
#include "git_mirror.h"

#define KNOWN_HOSTS_MAX ((size_t)16 << 20)

static const char *auth_user(const struct git_mirror *m, const char *user_from_url)
{
	if (user_from_url && *user_from_url)
		return user_from_url;
	return m->cfg->source_username ? m->cfg->source_username : "git";
}

int git_auth_credentials(git_credential **out, const char *url, const char *user_from_url,
			 unsigned int allowed, void *payload)
{
	struct git_mirror *m = payload;
	const char *user = auth_user(m, user_from_url);
	const unsigned int real = GIT_CREDENTIAL_SSH_KEY | GIT_CREDENTIAL_USERPASS_PLAINTEXT;

	(void)url;
	if ((allowed & GIT_CREDENTIAL_USERNAME) && !(allowed & real) && m->user_tries++ == 0)
		return git_credential_username_new(out, user);
	if (m->cred_tries++ > 0) {
		m->auth_failed = true;
		return GIT_EAUTH;
	}
	if ((allowed & GIT_CREDENTIAL_SSH_KEY) && m->cfg->source_ssh_key_file)
		return git_credential_ssh_key_new(out, user, NULL, m->cfg->source_ssh_key_file,
						  NULL);
	if ((allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) && m->token)
		return git_credential_userpass_plaintext_new(out, user, m->token);
	m->auth_missing = true;
	return GIT_EAUTH;
}

/* Say why the host key was refused, for the fetch error. */
static int hostkey_refused(struct git_mirror *m, const char *host, enum known_host v,
			   const char *type)
{
	const char *file = m->cfg->source_known_hosts;

	buf_truncate(&m->why, 0);
	switch (v) {
	case KNOWN_HOST_MISMATCH:
		buf_printf(&m->why,
			   "the ssh host key of \"%s\" does not match %s: the key changed or the "
			   "connection is intercepted; expected the %s key listed there",
			   host, file, type);
		break;
	case KNOWN_HOST_OTHER_TYPE:
		buf_printf(&m->why,
			   "the ssh server \"%s\" offered a %s host key, and %s lists other key "
			   "types for it; expected a %s key (ssh-keyscan -t %s)",
			   host, type, file, type, type);
		break;
	case KNOWN_HOST_REVOKED:
		buf_printf(&m->why, "the ssh host key of \"%s\" is revoked in %s", host, file);
		break;
	default:
		buf_printf(&m->why,
			   "the ssh host \"%s\" is not in %s; expected a known host (add its key, "
			   "e.g. with ssh-keyscan)",
			   host, file);
	}
	return GIT_ECERTIFICATE;
}

static int check_hostkey(struct git_mirror *m, const git_cert_hostkey *hk, const char *host)
{
	enum known_host v = KNOWN_HOST_UNKNOWN;
	char *text = NULL, type[64];
	size_t len = 0;
	int r;

	buf_truncate(&m->why, 0);
	if (!m->cfg->source_known_hosts) {
		buf_printf(&m->why,
			   "the ssh host key of \"%s\" cannot be verified; set "
			   "source.knownHostsFile to a known_hosts file that lists it",
			   host);
		return GIT_ECERTIFICATE;
	}
	if (!(hk->type & GIT_CERT_SSH_RAW)) {
		buf_printf(&m->why, "the ssh host key of \"%s\" is not available to check", host);
		return GIT_ECERTIFICATE;
	}
	r = file_read(m->cfg->source_known_hosts, KNOWN_HOSTS_MAX, &text, &len);
	if (r < 0) {
		buf_printf(&m->why, "cannot read source.knownHostsFile \"%s\": %s",
			   m->cfg->source_known_hosts, file_read_strerror(r));
		return GIT_ECERTIFICATE;
	}
	known_hosts_key_type((const unsigned char *)hk->hostkey, hk->hostkey_len, type,
			     sizeof(type));
	r = known_hosts_check(text, len, host, m->ssh_port, (const unsigned char *)hk->hostkey,
			      hk->hostkey_len, &v);
	free(text);
	if (r < 0)
		return GIT_ERROR;
	return v == KNOWN_HOST_MATCH ? 0 : hostkey_refused(m, host, v, type);
}

int git_auth_certificate(git_cert *cert, int valid, const char *host, void *payload)
{
	struct git_mirror *m = payload;

	if (cert->cert_type == GIT_CERT_HOSTKEY_LIBSSH2)
		return check_hostkey(m, (const git_cert_hostkey *)cert, host);
	if (!valid)
		m->tls_invalid = true;
	return GIT_PASSTHROUGH; /* libgit2's verification decides; never accept an invalid one */
}
