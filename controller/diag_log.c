#include "diag_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

void log_diags(const struct diags *dg)
{
	char *text = NULL, *line, *save = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (f) {
		diags_print(dg, f);
		fclose(f);
	}
	for (line = text ? strtok_r(text, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save))
		log_warnx("%s", line);
	free(text);
}
