/*
 * fuzz_manifests: feed arbitrary bytes to the manifest loader as one file,
 * beside a valid Cluster, so that parsing, merging and validation all run.
 * Built as a libFuzzer target with -DBRAMBLE_FUZZ=ON (clang), and always as
 * a replay program (fuzz_replay.c) that CTest runs over the corpora.
 */
#include <stddef.h>
#include <stdint.h>

#include "model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char cluster[] =
		"apiVersion: bramble/v1alpha1\nkind: Cluster\n"
		"metadata: {name: c}\nspec: {server: 10.0.0.1, subnet: 10.0.0.0/24}\n";
	struct manifest_file files[2] = {
		{"cluster.yaml", cluster, sizeof(cluster) - 1},
		{"fuzz.yaml", (const char *)data, size},
	};
	struct diags d = DIAGS_INIT;
	struct manifest_set *set = NULL;

	if (manifests_load_files(files, 2, &d, &set) == 0)
		manifest_set_free(set);
	diags_release(&d);
	return 0;
}
