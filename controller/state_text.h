/*
 * state_text: what the small line-based files of the state directory that
 * people read (history, suspended) share: a value kept on one line, a Unix
 * time shown as ISO 8601, and the whole file replaced through the atomic
 * writer.
 */
#ifndef BRAMBLE_STATE_TEXT_H
#define BRAMBLE_STATE_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "../common/atomic.h"
#include "../common/buf.h"

/* Copy s (NULL: "") into out, cut to size - 1 bytes, every control byte a space. */
void state_text_copy(char *out, size_t size, const char *s);

/* t as "2026-12-05T13:47:12Z" (UTC); the number itself if it cannot be. */
void state_text_time(int64_t t, char out[32]);

/* Replace state_dir/name (mode 0644) with text, synced as sync says; 0 or -errno. */
int state_text_write(const char *state_dir, const char *name, const struct buf *text,
		     enum atomic_sync sync);

#endif
