/*
 * doctor_proc: what /proc says about the servers of this network namespace:
 * the processes of a program, their arguments and user, and which process
 * owns a UDP port (/proc/net/udp{,6} socket inodes against /proc/PID/fd).
 */
#ifndef BRAMBLE_DOCTOR_PROC_H
#define BRAMBLE_DOCTOR_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PROC_PIDS_MAX 64

/* The processes whose comm is name: in this network namespace, and elsewhere. */
struct proc_list {
	pid_t here[PROC_PIDS_MAX];
	size_t n_here;
	pid_t elsewhere[PROC_PIDS_MAX];
	size_t n_elsewhere;
};

void proc_find(const char *name, struct proc_list *ret);

/*
 * The value of an option of pid's command line, given as "--long=V",
 * "--long V", "-sV" or "-s V" (the last one given wins); NULL when absent.
 * Free the result.
 */
char *proc_option(pid_t pid, const char *long_name, char short_name);

/* The effective uid and the groups of pid; returns 0 or -errno. */
int proc_ids(pid_t pid, uid_t *ret_uid, gid_t *gids, size_t max, size_t *ret_n);

/*
 * Who owns UDP port (host byte order) in this network namespace: *ret_pid is
 * the first process holding a socket bound to it (0: a socket exists but its
 * process was not found).  -ENOENT when no socket is bound to the port.
 */
int proc_udp_owner(uint16_t port, pid_t *ret_pid);

/* Whether pid holds a socket bound to UDP port in this network namespace. */
bool proc_udp_held(uint16_t port, pid_t pid);

/* The comm of pid into out ("?" when unknown). */
void proc_comm(pid_t pid, char *out, size_t size);

#endif
