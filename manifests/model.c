#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "model.h"

void manifest_set_free(struct manifest_set *set)
{
	struct arena *a = NULL;

	if (!set)
		return;
	/* The set itself lives in its arena, like everything it points to. */
	a = set->priv;
	arena_release(a);
	free(a);
}

const struct node *manifest_set_node(const struct manifest_set *set, const char *name)
{
	size_t lo = 0, hi = set->n_nodes;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(set->nodes[mid]->name, name);

		if (c == 0)
			return set->nodes[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const struct image *manifest_set_image(const struct manifest_set *set, const char *name)
{
	size_t lo = 0, hi = set->n_images;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(set->images[mid]->name, name);

		if (c == 0)
			return set->images[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

bool manifest_set_uses_image(const struct manifest_set *set, const struct image *img)
{
	size_t i;

	for (i = 0; i < set->n_nodes; i++)
		if (set->nodes[i]->image == img)
			return true;
	return false;
}

bool first_boot_is_set(const struct first_boot *fb)
{
	return fb->hostname || fb->n_users || fb->ssh != TRI_UNSET || fb->wifi.ssid ||
	       fb->timezone || fb->keymap;
}

const char *pi_model_name(enum pi_model m)
{
	static const char *const names[] = {"pi3", "pi4", "pi5"};

	return (unsigned)m < 3 ? names[m] : "unknown";
}

const char *dhcp_mode_name(enum dhcp_mode m)
{
	static const char *const names[] = {"proxy", "full", "external"};

	return (unsigned)m < 3 ? names[m] : "unknown";
}

const char *root_mode_name(enum root_mode m)
{
	static const char *const names[] = {"private", "shared"};

	return (unsigned)m < 2 ? names[m] : "unknown";
}
