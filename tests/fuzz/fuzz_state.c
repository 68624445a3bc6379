/*
 * fuzz_state: arbitrary bytes as one of bramble's state files, read by the
 * one checked parser (common/parse.h): the first byte picks the reader (an
 * inventory shard, or the reader's lines split and numbers checked as the
 * other state files do), the rest is the file.  A file is either read whole,
 * every entry within bounds, or refused with a message naming the file and
 * the line; anything else aborts.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"
#include "parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_inventory(char *text, size_t len)
{
	struct inventory inv;
	struct buf why = BUF_INIT;
	size_t i;
	int r;

	memset(&inv, 0, sizeof(inv));
	r = inventory_parse("inventory.d/6b", text, len, &inv, &why);
	if (r == -EBADMSG && strncmp(buf_str(&why), "inventory.d/6b:", 15) != 0)
		abort();
	if (r == 0 && why.len)
		abort();
	for (i = 0; r == 0 && i < inv.n; i++)
		if (inv.v[i].root >= ROOT_COUNT || !res_path_is_safe(inv.v[i].path))
			abort();
	inventory_release(&inv);
	buf_release(&why);
}

static void check_lines(char *text, size_t len)
{
	struct state_reader sr;
	struct buf why = BUF_INIT;
	char *line = NULL, *f[4];
	uint64_t u;
	int64_t v;
	size_t n;
	int r;

	state_reader_init(&sr, "pending-actions", "do something", text, len, &why);
	while ((r = state_next_line(&sr, &line)) > 0) {
		r = state_split(&sr, line, ' ', 1, 4, f, &n, "one to four words");
		if (r == 0)
			r = state_u64(&sr, "first", f[0],
				      n == 1   ? 8
				      : n == 2 ? 10
					       : 16,
				      1000000, &u);
		if (r == 0 && (u > 1000000))
			abort();
		if (r == 0 && n > 1)
			r = state_i64(&sr, "second", f[1], -5, 5, &v);
		if (r == 0 && n > 1 && (v < -5 || v > 5))
			abort();
		if (r < 0)
			break;
	}
	if (r < 0 && strncmp(buf_str(&why), "pending-actions:", 16) != 0)
		abort();
	buf_release(&why);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;

	if (size == 0)
		return 0;
	text = malloc(size);
	if (!text)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	if (data[0] & 1)
		check_lines(text, size - 1);
	else
		check_inventory(text, size - 1);
	free(text);
	return 0;
}
