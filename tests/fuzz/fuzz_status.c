/*
 * fuzz_status: arbitrary bytes as the state files `bramble status` reads
 * back (status_print(), controller/status_print.c): the input is
 * status.json, then after a NUL byte nodes.json, then after another
 * boot.json, then history and suspended (a part left out: no such file;
 * these text files hold no NUL byte, so the split loses nothing).  They
 * are written into a scratch state directory made once (on /dev/shm:
 * fuzz_scratch.h) and printed both ways, the JSON document and the table
 * for people, to /dev/null.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_scratch.h"
#include "status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char state_dir[128];
static int state_fd = -1;
static FILE *devnull;

static int scratch(void)
{
	if (state_fd >= 0)
		return 0;
	state_fd = fuzz_scratch_dir("status", state_dir, sizeof(state_dir));
	devnull = fopen("/dev/null", "we");
	return state_fd >= 0 && devnull ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = {"status.json", "nodes.json", "boot.json", "history",
					    "suspended"};
	const uint8_t *part = data, *end = data + size, *nul;
	size_t i;

	if (scratch() < 0)
		return 0;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		nul = part ? memchr(part, '\0', (size_t)(end - part)) : NULL;
		if (fuzz_scratch_put(state_fd, names[i], part,
				     part ? (size_t)((nul ? nul : end) - part) : 0) < 0)
			return 0;
		part = nul ? nul + 1 : NULL;
	}
	(void)status_print(state_dir, true, devnull);
	(void)status_print(state_dir, false, devnull);
	return 0;
}
