/*
 * fuzz_config: arbitrary bytes as the controller configuration
 * (bramble.yaml), read the way bramble reads it (config_load from a file,
 * here a memfd), then made absolute and released.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "fsutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bramble_config c;
	struct diags d = DIAGS_INIT;
	char path[64];
	int fd = memfd_create("bramble.yaml", MFD_CLOEXEC);

	if (fd < 0)
		return 0;
	if (write_all(fd, data, size) == 0 && config_init(&c) == 0) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		if (config_load(&c, path, &d) == 0)
			(void)config_absolutize(&c);
		config_release(&c);
	}
	diags_release(&d);
	close(fd);
	return 0;
}
