#include "git_url.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* The user part of a URL with a scheme: [*ret_start, *ret_end) before '@'. */
static bool url_userinfo(const char *url, const char **ret_start, const char **ret_end)
{
	const char *start = strstr(url, "://");
	const char *end = NULL, *at = NULL, *p = NULL;

	if (!start)
		return false;
	start += 3;
	end = start + strcspn(start, "/?#");
	for (p = start; p < end; p++)
		if (*p == '@')
			at = p;
	if (!at)
		return false;
	*ret_start = start;
	*ret_end = at;
	return true;
}

int git_url_redact(const char *url, char **ret)
{
	struct buf b = BUF_INIT;
	const char *start = NULL, *end = NULL, *colon = NULL;
	int r;

	if (url_userinfo(url, &start, &end))
		colon = memchr(start, ':', (size_t)(end - start));
	if (!colon) {
		r = buf_adds(&b, url);
	} else {
		r = buf_add(&b, url, (size_t)(colon - url));
		if (r == 0)
			r = buf_printf(&b, ":***%s", end);
	}
	if (r == 0) {
		*ret = buf_detach(&b, NULL);
		r = *ret ? 0 : -ENOMEM;
	}
	buf_release(&b);
	return r;
}

static bool is_ssh_url(const char *url)
{
	return strncmp(url, "ssh://", 6) == 0 || strncmp(url, "ssh+git://", 10) == 0 ||
	       strncmp(url, "git+ssh://", 10) == 0;
}

bool git_url_is_ssh(const char *url)
{
	size_t colon = strcspn(url, ":");

	if (is_ssh_url(url))
		return true;
	return !strstr(url, "://") && url[colon] == ':' && colon < strcspn(url, "/");
}

unsigned git_url_ssh_port(const char *url)
{
	const char *host = NULL, *end = NULL, *p = NULL, *colon = NULL;
	unsigned long port = 0;
	char *stop = NULL;

	if (!is_ssh_url(url))
		return 22;
	host = strstr(url, "://") + 3;
	end = host + strcspn(host, "/");
	for (p = host; p < end; p++)
		if (*p == '@')
			host = p + 1;
	p = host;
	if (*host == '[' && memchr(host, ']', (size_t)(end - host)))
		p = memchr(host, ']', (size_t)(end - host));
	colon = memchr(p, ':', (size_t)(end - p));
	if (!colon || colon + 1 == end)
		return 22;
	errno = 0;
	port = strtoul(colon + 1, &stop, 10);
	if (errno || stop != end || port == 0 || port > 65535)
		return 22;
	return (unsigned)port;
}

int git_url_password(const char *url, char **ret)
{
	const char *start = NULL, *end = NULL, *colon = NULL;

	*ret = NULL;
	if (url_userinfo(url, &start, &end))
		colon = memchr(start, ':', (size_t)(end - start));
	if (!colon || colon + 1 == end)
		return 0;
	*ret = strndup(colon + 1, (size_t)(end - colon - 1));
	return *ret ? 0 : -ENOMEM;
}

int git_url_scrub(struct buf *b, const char *secret, const char *with)
{
	struct buf out = BUF_INIT;
	const char *p = NULL, *hit = NULL;
	size_t n;
	int r = 0;

	if (!secret || !*secret || !strstr(buf_str(b), secret))
		return 0;
	n = strlen(secret);
	p = buf_str(b);
	hit = strstr(p, secret);
	while (r == 0 && hit) {
		r = buf_add(&out, p, (size_t)(hit - p));
		if (r == 0)
			r = buf_adds(&out, with);
		p = hit + n;
		hit = strstr(p, secret);
	}
	if (r == 0)
		r = buf_adds(&out, p);
	if (r == 0) {
		buf_release(b);
		*b = out;
		return 0;
	}
	buf_release(&out);
	return r;
}
