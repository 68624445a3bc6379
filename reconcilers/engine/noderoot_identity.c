/*
 * noderoot_identity: what a new root must not keep of its image, its
 * machine id.  An image that was booted once before it was published
 * carries /etc/machine-id (and often D-Bus's copy of it in
 * /var/lib/dbus/machine-id); every root copied from it would share that
 * id, which journald names its directory after, DHCP and NetworkManager
 * derive client ids from, and fleet tools count machines by.
 *
 * The root is still in staging (not exported, not yet synced) when this
 * runs, so a crash at any point leaves a staging directory that the next
 * pass removes.  An empty /etc/machine-id makes systemd generate the node's
 * own id at its first boot and write it into the root; the id cannot be
 * changed during the boot instead, since journald has opened the journal
 * directory named by the old one by then.  D-Bus's copy becomes the symlink
 * to /etc/machine-id that Debian's dbus package makes itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "noderoot.h"
#include "fsutil.h"

/* Open the directory path beneath root_fd; *ret_fd is -1 when it is not there. */
static int dir_maybe(int root_fd, const char *path, int *ret_fd)
{
	int r = dir_open_beneath(root_fd, path, false, 0, ret_fd);

	if (r == -ENOENT || r == -ENOTDIR || r == -ELOOP) {
		*ret_fd = -1;
		return 0;
	}
	return r;
}

static int machine_id_empty(int root_fd)
{
	struct stat st;
	int etc, fd, r;

	r = dir_maybe(root_fd, "etc", &etc);
	if (r < 0 || etc < 0)
		return r;
	/* A symlink or anything but a file is left as the image has it. */
	if (fstatat(etc, "machine-id", &st, AT_SYMLINK_NOFOLLOW) < 0)
		r = errno == ENOENT ? 0 : -errno;
	else if (S_ISREG(st.st_mode) && st.st_size > 0) {
		fd = openat(etc, "machine-id",
			    O_WRONLY | O_TRUNC | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		r = fd < 0 ? -errno : 0;
		if (fd >= 0)
			close(fd);
	}
	close(etc);
	return r;
}

static int dbus_id_link(int root_fd)
{
	struct stat st;
	int dbus, r;

	r = dir_maybe(root_fd, "var/lib/dbus", &dbus);
	if (r < 0 || dbus < 0)
		return r;
	if (fstatat(dbus, "machine-id", &st, AT_SYMLINK_NOFOLLOW) < 0)
		r = errno == ENOENT ? 0 : -errno;
	else if (S_ISREG(st.st_mode) && (unlinkat(dbus, "machine-id", 0) < 0 ||
					 symlinkat("/etc/machine-id", dbus, "machine-id") < 0))
		r = -errno;
	close(dbus);
	return r;
}

int root_identity_reset(int root_fd)
{
	int r = machine_id_empty(root_fd);

	return r < 0 ? r : dbus_id_link(root_fd);
}
