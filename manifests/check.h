/*
 * check: lexical rules for the values a manifest may contain.
 *
 * Each function answers whether a whole string is acceptable; the decoder
 * turns a "no" into a message that says what was expected.  name_is_safe()
 * is declared in model.h because the reconcilers use it too.
 */
#ifndef BRAMBLE_CHECK_H
#define BRAMBLE_CHECK_H

#include <stdbool.h>
#include <stddef.h>

/* RFC 1123 label: 1..63 of [A-Za-z0-9-], no leading or trailing '-'. */
bool hostname_is_valid(const char *s);
/* Exactly 8 lowercase hex digits. */
bool serial_is_valid(const char *s);
/* Exactly 64 lowercase hex digits. */
bool sha256_is_valid(const char *s);
/* A network interface name: 1..15 of [A-Za-z0-9_.:-], not "." or "..". */
bool interface_is_valid(const char *s);
/* A Linux user name: [a-z_][a-z0-9_-]{0,31}. */
bool username_is_valid(const char *s);
/* A tz database name: [A-Za-z0-9_+/-], 1..64, no empty component, not absolute. */
bool timezone_is_valid(const char *s);
/* A console keymap: 1..32 of [a-z0-9_-]. */
bool keymap_is_valid(const char *s);
/* Two upper-case letters (ISO 3166-1 alpha-2). */
bool country_is_valid(const char *s);
/* A config.txt key: [A-Za-z0-9_]+, at most 64. */
bool config_key_is_valid(const char *s);
/* '/'-separated safe names (see name_is_safe()), at most 255 bytes. */
bool relpath_is_safe(const char *s);
/* Starts with '/', at most 4095 bytes, no control characters. */
bool abspath_is_valid(const char *s);
/* Whether s contains a control character (newline, tab, DEL...). */
bool has_control(const char *s);
/* Whether s contains a line break (\n or \r). */
bool has_newline(const char *s);
/* Whether s contains white space (space, tab, newline, ...). */
bool has_space(const char *s);
/* Whether s starts with prefix. */
bool has_prefix(const char *s, const char *prefix);

/*
 * Quote s for a message: "s" with control characters, quotes and bytes
 * outside printable ASCII escaped, cut with "..." to fit n bytes (n >= 8).
 */
void str_quote(const char *s, char *out, size_t n);

#define QUOTE_MAX 72

#endif
