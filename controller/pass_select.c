/*
 * pass_select: a pass under a Node selector (selector.h).  The revision is
 * loaded and validated whole; then only the selected nodes are kept, before
 * the images, the render and the plan, so that every reconciler (boot trees,
 * roots, exports, dhcp hosts and the shared files sized from the node list)
 * works on this instance's nodes alone, and the inventory prunes what left
 * the selection like a node removed from the repository.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "netaddr.h"
#include "pass.h"
#include "selector.h"

/*
 * server: this instance's own address over the Cluster's spec.server (what
 * the nodes' cmdline.txt mount their roots from, option 66, the PXE
 * service): each site's netboot server has its own.  It must be inside the
 * Cluster's subnet and no node's address, as spec.server must.
 */
static int select_server(struct pass *p)
{
	struct cluster *c = p->set->cluster;
	uint32_t ip = 0;
	size_t i;

	if (!p->cfg->server || ipv4_parse(p->cfg->server, &ip) < 0)
		return 0;
	if (c->subnet && !ipv4_in_subnet(ip, c->subnet_ip, c->prefix_len))
		return diags_add(
			       &p->d, NULL,
			       "server %s (the configuration's) is outside the Cluster's subnet %s",
			       p->cfg->server, c->subnet) < 0
			       ? -ENOMEM
			       : -EINVAL;
	for (i = 0; i < p->set->n_nodes; i++)
		if (p->set->nodes[i]->has_ip && p->set->nodes[i]->ip == ip)
			return diags_add(&p->d, &p->set->nodes[i]->pos,
					 "server %s (the configuration's) is the address of node "
					 "\"%s\"",
					 p->cfg->server, p->set->nodes[i]->name) < 0
				       ? -ENOMEM
				       : -EINVAL;
	c->server = p->cfg->server;
	c->server_ip = ip;
	return 0;
}

int pass_select(struct pass *p)
{
	int r = select_server(p); /* against every node: an address clash is one across sites */

	if (r == 0)
		pass_select_nodes(p);
	return r;
}

size_t pass_select_nodes(struct pass *p)
{
	size_t total = p->set->n_nodes, out;

	out = selector_apply(p->cfg->selector, p->set);
	if (p->cfg->selector && *p->cfg->selector)
		log_debug("selector %s: %zu of %zu nodes", p->cfg->selector, total - out, total);
	return out;
}

/* "site=a" or "none (every node)", for messages. */
static const char *shown(const char *canonical)
{
	return *canonical ? canonical : "none (every node)";
}

/* The configured selector's canonical form, and the recorded one ("": none). */
static int selectors(struct pass *p, struct buf *want, struct buf *had)
{
	const char *bad = NULL;
	int r;

	r = selector_canonical(p->cfg->selector, want, &bad);
	return r < 0 ? r : selector_recorded(p->state_fd, had);
}

/*
 * Compare the configured selector with the one this state directory last
 * applied.  Equal, or nothing in the inventory to prune: 0.  Different: a
 * plan warns and goes on (it changes nothing); an apply without
 * pass_opts.accept_selector_change is refused (1, the reason in why), since
 * it would prune every node the old selector chose.
 */
int pass_select_check(struct pass *p, struct buf *why)
{
	struct buf want = BUF_INIT, had = BUF_INIT;
	int r;

	r = selectors(p, &want, &had);
	if (r < 0 || strcmp(buf_str(&want), buf_str(&had)) == 0 ||
	    engine_inventory_size(p->engine) == 0 || p->o->accept_selector_change)
		goto out;
	if (p->o->mode == PASS_MODE_APPLY) {
		r = buf_printf(why,
			       "refusing to apply: the selector changed from %s to %s since the "
			       "last apply, which would remove the files of every node the old "
			       "one selected; check it with bramble plan, then run bramble apply "
			       "--accept-selector-change once if that is what you want",
			       shown(buf_str(&had)), shown(buf_str(&want)));
		r = r < 0 ? r : 1;
	} else {
		fprintf(p->o->out,
			"warning: the selector changed from %s to %s since the last apply: "
			"apply refuses it without --accept-selector-change\n",
			shown(buf_str(&had)), shown(buf_str(&want)));
	}
out:
	if (r < 0)
		log_errno(r, "cannot read the recorded selector %s/%s", p->cfg->state_dir,
			  SELECTOR_FILE);
	buf_release(&want);
	buf_release(&had);
	return r;
}

/*
 * Record the configured selector before the apply changes anything: a
 * pass cut after this point is completed by the next one under the
 * selector the operator confirmed, never refused half-way.
 */
int pass_select_record(struct pass *p)
{
	struct buf want = BUF_INIT, had = BUF_INIT;
	int r;

	r = selectors(p, &want, &had);
	if (r == 0 && strcmp(buf_str(&want), buf_str(&had)) != 0)
		r = selector_record(p->state_fd, buf_str(&want));
	if (r < 0)
		log_errno(r, "cannot record the selector in %s/%s", p->cfg->state_dir,
			  SELECTOR_FILE);
	buf_release(&want);
	buf_release(&had);
	return r;
}
