/*
 * pass_validate: what `bramble validate` checks beyond the manifests.  It
 * renders the revision completely, in memory, as plan does, so that
 * "configuration OK" means the revision can be applied.  It never observes
 * or touches the output trees: no engine, no inventory, no state read, and
 * no write but dnsmasq --test's scratch directory, made in $TMPDIR and
 * removed.  What the render needs from this host it reads read-only: the
 * image store (an Image not in it yet is a note, not an error: validate
 * never downloads) and the secret files.  Offline (--offline, or no image
 * store at all: a CI check on a laptop) it reads neither, and one note says
 * what was not checked.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pass.h"
#include "../common/buf.h"
#include "../common/fsutil.h"

/* The image store, read-only; -1 offline, with the note that says so. */
static int open_store(struct pass *p)
{
	const char *store = p->cfg->image_store;
	int fd;

	if (p->o->offline)
		return diags_add(&p->notes, NULL,
				 "--offline: the image store and the secret files were not read; "
				 "the Images' files and the secrets are not checked") < 0
			       ? -ENOMEM
			       : -1;
	fd = open(store, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0)
		return fd;
	if (errno != ENOENT) /* never -1, which means offline */
		return errno == EPERM ? -EACCES : -errno;
	return diags_add(&p->notes, NULL,
			 "no image store at %s: neither it nor the secret files were read; "
			 "the Images' files and the secrets are not checked",
			 store) < 0
		       ? -ENOMEM
		       : -1;
}

/* A note for each Image in use that the store does not hold yet. */
static int note_absent(struct pass *p)
{
	size_t i;

	for (i = 0; i < p->ctx.n_trees; i++) {
		const struct image_tree *t = &p->ctx.trees[i];

		if (t->absent &&
		    diags_add(&p->notes, &t->image->pos,
			      "image \"%s\" is not in the store yet: its files are checked when "
			      "it is fetched",
			      t->image->name) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* The rendered files, checked by their tools (dnsmasq --test) in a scratch directory. */
static int check_rendered(struct pass *p)
{
	const char *tmp = getenv("TMPDIR");
	struct buf dir = BUF_INIT;
	int r;

	r = buf_printf(&dir, "%s/bramble-validate.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (r < 0)
		return r;
	if (!mkdtemp(dir.data)) {
		r = -errno;
		buf_release(&dir);
		return r;
	}
	p->ctx.scratch_dir = buf_str(&dir);
	r = pass_check_rendered(p);
	p->ctx.scratch_dir = NULL;
	if (rm_rf_at(AT_FDCWD, buf_str(&dir)) < 0 && r == 0)
		r = -EIO;
	buf_release(&dir);
	return r;
}

int pass_validate(struct pass *p)
{
	int store_fd, r;

	r = pass_split_paths(p);
	if (r < 0)
		return r;
	store_fd = open_store(p);
	if (store_fd < -1)
		return store_fd;
	pass_render_ctx(p);
	p->ctx.images_fd = store_fd;
	p->ctx.lenient = RENDER_ABSENT_IMAGES | (store_fd < 0 ? RENDER_NO_SECRET_FILES : 0);
	p->ctx.deps = NULL;	     /* nothing is sealed */
	p->ctx.export_ids = &p->ids; /* none loaded: the state is not read */
	r = image_trees_load(&p->ctx, &p->d);
	if (r == 0 && store_fd >= 0)
		r = note_absent(p);
	if (r == 0)
		r = render_all(&p->ctx, &p->desired, &p->d);
	if (r == 0)
		r = check_rendered(p);
	if (store_fd >= 0)
		close(store_fd);
	p->ctx.images_fd = -1;
	return r;
}
