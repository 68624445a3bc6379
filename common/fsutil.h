/*
 * fsutil: file system helpers that never follow a symlink out of a managed
 * root.  Paths given to the *_at functions are relative, '/'-separated and
 * checked by the caller; every intermediate component is opened with
 * O_NOFOLLOW | O_DIRECTORY, so a symlink planted inside a root cannot redirect
 * bramble elsewhere.  All functions return 0 or a negative errno, and every
 * fd they open is O_CLOEXEC.
 */
#ifndef BRAMBLE_FSUTIL_H
#define BRAMBLE_FSUTIL_H

#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/*
 * Open the directory name (one component) in dirfd, never through a
 * symlink; with create, make it (mode) when it is not there, *ret_made
 * saying so.  parent_new: dirfd was made just now, so name cannot be there
 * yet and is made without a lookup first.
 */
int dir_component_open(int dirfd, const char *name, bool create, bool parent_new, mode_t mode,
		       int *ret_fd, bool *ret_made);
/*
 * Open the directory at path beneath dirfd ("" or "." is dirfd itself).
 * With create, missing directories are made with mode.
 */
int dir_open_beneath(int dirfd, const char *path, bool create, mode_t mode, int *ret_fd);

/*
 * Open the directory at path beneath dirfd (dir_open_beneath()) for
 * readdir(); closedir() releases it.
 */
int dir_opendir_beneath(int dirfd, const char *path, bool create, mode_t mode, DIR **ret);
/* fdopendir(fd), fd closed on failure: the DIR or nothing owns it. */
int dir_opendir_take(int fd, DIR **ret);
/* Read the directory fd (which stays the caller's) from its start, on a duplicate. */
int dir_opendir_dup(int fd, DIR **ret);

/*
 * Split path into its parent directory (opened beneath dirfd, created when
 * create is set) and its last component, which points into path.
 */
int parent_open_beneath(int dirfd, const char *path, bool create, int *ret_fd,
			const char **ret_name);

/*
 * The readers of untrusted files.  Each opens with O_NONBLOCK | O_NOCTTY |
 * O_CLOEXEC and checks the type on the opened fd before reading, so a FIFO,
 * a socket or a device is refused at once (-EINVAL) instead of blocking; a file
 * past max bytes is -EFBIG, also when it grows while being read.
 */

/* Read a whole regular file beneath dirfd; no symlink is followed (-ELOOP). */
int file_read_at(int dirfd, const char *path, size_t max, char **ret_data, size_t *ret_len);
/*
 * Read a whole regular file by absolute or cwd-relative path.  Symlinks are
 * followed: for files the operator names in the controller configuration
 * (Kubernetes mounts Secrets and ConfigMaps as symlinks into "..data").
 */
int file_read(const char *path, size_t max, char **ret_data, size_t *ret_len);
/* The same for an open regular file (a memfd, say), from its current offset. */
int file_read_fd(int fd, size_t max, char **ret_data, size_t *ret_len);
/*
 * Read a whole regular file at path (absolute, then it must start with dir,
 * or relative to dir) that resolves beneath the directory dir: symlinks that
 * stay inside dir are followed, one leading out of it is -EXDEV, as is an
 * absolute path elsewhere.
 */
int file_read_beneath(const char *dir, const char *path, size_t max, char **ret_data,
		      size_t *ret_len);
/*
 * Whether path (symlinks followed) is a regular file, opened as the readers
 * open: 0, -EINVAL when it is not, or the open's error.  For files read by a
 * library (libssh2, libcurl) rather than by bramble.
 */
int file_check_regular(const char *path);
/* A reason for an error of the readers above, for a message. */
const char *file_read_strerror(int r);

/* Write all of data to fd, across short writes and EINTR; 0 or -errno. */
int write_all(int fd, const void *data, size_t len);

/* mkdir -p of an absolute or relative path (follows symlinks: for config paths). */
int mkdir_p(const char *path, mode_t mode);

/* Remove name (file, symlink or whole directory tree) in dirfd, never following symlinks. */
int rm_rf_at(int dirfd, const char *name);

/* Join two path pieces into a new string; NULL on ENOMEM. */
char *path_join(const char *a, const char *b);

#endif
