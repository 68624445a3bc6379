/*
 * load_stubs: the nodes of the files a delta load does not read, made from
 * the seal's record of them (reconcilers/seal.h) instead of their YAML.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "loader.h"
#include "netaddr.h"

static char *stub_str(struct loader *l, const char *s)
{
	return arena_strdup(l->keep, s ? s : "");
}

static int stub_enum(const char *s, const char *(*name)(unsigned), unsigned n, unsigned *ret)
{
	unsigned i;

	for (i = 0; i < n; i++)
		if (strcmp(s, name(i)) == 0) {
			*ret = i;
			return 0;
		}
	return -ESTALE;
}

static const char *model_name(unsigned m)
{
	return pi_model_name((enum pi_model)m);
}

static const char *mode_name(unsigned m)
{
	return root_mode_name((enum root_mode)m);
}

/* Fill a node from its record; -ESTALE when the record does not fit. */
static int stub_node(struct loader *l, const struct node_stub *st, struct node *n)
{
	unsigned model, mode;
	size_t i;

	if (strlen(st->serial) != 8 || stub_enum(st->model, model_name, 3, &model) < 0 ||
	    stub_enum(st->root_mode, mode_name, 2, &mode) < 0)
		return -ESTALE;
	memcpy(n->serial, st->serial, sizeof(n->serial));
	n->has_mac = *st->mac != '\0';
	if (n->has_mac && mac_parse(st->mac, n->mac) < 0)
		return -ESTALE;
	if (n->has_mac)
		mac_format(n->mac, n->mac_str);
	n->has_ip = *st->ip != '\0';
	if (n->has_ip && ipv4_parse(st->ip, &n->ip) < 0)
		return -ESTALE;
	if (n->has_ip)
		ipv4_format(n->ip, n->ip_str);
	n->model = (enum pi_model)model;
	n->root_mode = (enum root_mode)mode;
	for (i = 0; i < l->refs.n_images && !n->image; i++)
		if (strcmp(l->refs.images[i]->name, st->image) == 0)
			n->image = l->refs.images[i];
	n->hostname = stub_str(l, st->hostname);
	n->stub_owners = stub_str(l, st->owners);
	n->stub = true;
	n->stub_first_boot = st->first_boot;
	n->stub_resources = st->n_resources;
	snprintf(n->doc_digest, sizeof(n->doc_digest), "%s", st->doc_digest ? st->doc_digest : "");
	n->first_boot.ssh = TRI_UNSET;
	return n->image && n->hostname && n->stub_owners ? 0 : n->image ? -ENOMEM : -ESTALE;
}

int loader_add_stubs(struct loader *l, const struct node_stub *stubs, size_t n)
{
	size_t i;
	int r;

	for (i = 0; i < n; i++) {
		const struct node_stub *st = &stubs[i];
		struct object *o = loader_object_add(l);
		struct node_rec *rec;

		if (!o)
			return -ENOMEM;
		o->kind = KIND_NODE;
		o->name = stub_str(l, st->name);
		o->pos.file = stub_str(l, st->file);
		o->pos.line = st->line;
		o->pos.col = st->col;
		rec = loader_rec_add(l);
		if (!rec || !o->name || !o->pos.file)
			return -ENOMEM;
		rec->node = arena_calloc(l->keep, 1, sizeof(*rec->node));
		if (!rec->node)
			return -ENOMEM;
		rec->node->name = o->name;
		rec->node->pos = o->pos;
		r = stub_node(l, st, rec->node);
		if (r < 0)
			return r;
		rec->name_pos = rec->serial_pos = rec->mac_pos = rec->ip_pos = rec->hostname_pos =
			o->pos;
		rec->has_serial = true;
		l->n_stubs++;
	}
	return loader_index(l);
}
