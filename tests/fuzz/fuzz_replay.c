/*
 * fuzz_replay: run the fuzz target over every file given on the command line
 * (a corpus), so the corpora are regression tests under CTest and ASan.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "fsutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
	int i, n = 0;

	for (i = 1; i < argc; i++) {
		char *data = NULL;
		size_t len = 0;

		if (file_read(argv[i], (size_t)64 << 20, &data, &len) < 0) {
			fprintf(stderr, "fuzz_replay: cannot read %s\n", argv[i]);
			return 1;
		}
		LLVMFuzzerTestOneInput((const uint8_t *)data, len);
		free(data);
		n++;
	}
	printf("fuzz_replay: %d inputs replayed\n", n);
	return n > 0 ? 0 : 1;
}
