#include "check.h"

#include <stdio.h>
#include <string.h>

#include "model.h"

static bool is_lower_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static bool is_alnum(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Whether s is 1..max bytes of alphanumerics and the characters in extra. */
static bool chars_ok(const char *s, size_t max, const char *extra)
{
	size_t n;

	for (n = 0; s[n]; n++) {
		if (n >= max)
			return false;
		if (!is_alnum(s[n]) && !strchr(extra, s[n]))
			return false;
	}
	return n > 0;
}

static bool lower_hex_ok(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (!is_lower_hex(s[i]))
			return false;
	}
	return s[len] == '\0';
}

bool name_is_safe(const char *s)
{
	if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return false;
	return chars_ok(s, 63, "._-");
}

bool hostname_is_valid(const char *s)
{
	size_t n = strlen(s);

	if (!chars_ok(s, 63, "-"))
		return false;
	return s[0] != '-' && s[n - 1] != '-';
}

bool serial_is_valid(const char *s)
{
	return strnlen(s, 9) == 8 && lower_hex_ok(s, 8);
}

bool sha256_is_valid(const char *s)
{
	return strnlen(s, 65) == 64 && lower_hex_ok(s, 64);
}

bool interface_is_valid(const char *s)
{
	if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return false;
	return chars_ok(s, 15, "_.:-");
}

bool username_is_valid(const char *s)
{
	size_t i;

	if (!((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
		return false;
	for (i = 1; s[i]; i++) {
		bool ok = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
			  s[i] == '_' || s[i] == '-';

		if (!ok || i >= 32)
			return false;
	}
	return true;
}

bool timezone_is_valid(const char *s)
{
	if (!chars_ok(s, 64, "_+/-"))
		return false;
	return s[0] != '/' && s[strlen(s) - 1] != '/' && !strstr(s, "//");
}

bool keymap_is_valid(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++) {
		bool ok = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
			  s[i] == '_' || s[i] == '-';

		if (!ok || i >= 32)
			return false;
	}
	return i > 0;
}

bool country_is_valid(const char *s)
{
	return s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z' && s[2] == '\0';
}

bool config_key_is_valid(const char *s)
{
	return chars_ok(s, 64, "_");
}

bool relpath_is_safe(const char *s)
{
	char comp[64];
	const char *p = s;

	if (strnlen(s, 256) > 255)
		return false;
	for (;;) {
		size_t n = strcspn(p, "/");

		if (n == 0 || n >= sizeof(comp))
			return false;
		memcpy(comp, p, n);
		comp[n] = '\0';
		if (!name_is_safe(comp))
			return false;
		if (p[n] == '\0')
			return true;
		p += n + 1;
	}
}

bool abspath_is_valid(const char *s)
{
	return s[0] == '/' && strnlen(s, 4096) < 4096 && !has_control(s);
}

bool has_control(const char *s)
{
	for (; *s; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	}
	return false;
}

bool has_newline(const char *s)
{
	return strpbrk(s, "\n\r") != NULL;
}

bool has_space(const char *s)
{
	return strpbrk(s, " \t\n\r\v\f") != NULL;
}

bool has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Append the escaped form of c at out[*o] if it fits below limit. */
static bool quote_char(unsigned char c, char *out, size_t *o, size_t limit)
{
	char esc[5];
	size_t len;

	if (c == '"' || c == '\\') {
		esc[0] = '\\';
		esc[1] = (char)c;
		esc[2] = '\0';
	} else if (c < 0x20 || c >= 0x7f) {
		snprintf(esc, sizeof(esc), "\\x%02x", c);
	} else {
		esc[0] = (char)c;
		esc[1] = '\0';
	}
	len = strlen(esc);
	if (*o + len > limit)
		return false;
	memcpy(out + *o, esc, len);
	*o += len;
	return true;
}

void str_quote(const char *s, char *out, size_t n)
{
	size_t o = 0;
	const char *p = NULL;

	out[o++] = '"';
	for (p = s; *p; p++) {
		if (!quote_char((unsigned char)*p, out, &o, n - 6))
			break;
	}
	out[o++] = '"';
	if (*p) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}
