/*
 * config: the controller's own configuration (bramble.yaml, read through the
 * manifests' YAML tree), every key overridable by --set section.key=value
 * (and the common ones by their own flags).  See deploy/bramble.yaml for the
 * annotated example, docs/man/bramble.yaml.5 and README.md for the reference.
 */
#ifndef BRAMBLE_CONFIG_H
#define BRAMBLE_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "diag.h"
#include "../common/hash.h"

#define CONFIG_DEFAULT_PATH "/etc/bramble/bramble.yaml"

struct bramble_config {
	/* source */
	char *source;		   /* a git URL or repository, or a manifests directory */
	char *source_ref;	   /* branch, tag or commit */
	char *source_path;	   /* path inside the repository */
	char *source_username;	   /* HTTPS user */
	char *source_token_file;   /* HTTPS password or token, read from a file */
	char *source_ssh_key_file; /* SSH private key */
	char *source_known_hosts;  /* SSH known_hosts: unknown hosts are refused */
	char *source_ca_file;	   /* extra CA bundle for HTTPS (verification stays on) */
	unsigned interval_s;
	unsigned timeout_s;
	/* outputs */
	char *tftp_root;
	char *nfs_root;
	char *state_dir;
	char *image_store;
	/* inputs: the only directory manifests' {file: ...} secrets may name (NULL: none) */
	char *secrets_dir;
	char *dhcp_conf_file;
	char *dhcp_hosts_dir;
	char *dhcp_lease_file;
	char *dhcp_log_file;	/* dnsmasq log-facility, followed by the daemon; NULL: none */
	char *dhcp_reload_cmd;	/* run when a host was removed (SIGHUP) */
	char *dhcp_restart_cmd; /* run when the main config changed */
	char *dhcp_test_cmd;	/* dnsmasq binary for --test, "" to skip */
	char *exports_file;
	char *ganesha_file;
	char *nfs_reload_cmd;
	char *nfs_restart_cmd; /* run when a root was replaced (re-image); NULL: the reload */
	/* daemon */
	char *listen;
	unsigned liveness_timeout_s; /* /healthz: the run loop is hung after this long idle */
	char *webhook_secret_file;   /* HMAC-SHA256 key (X-Hub-Signature-256) */
	char *webhook_token_file;    /* shared token (X-Gitlab-Token) */
	bool allow_empty;
	char *selector; /* Node labels this instance serves, "site=rack-b" (selector.h); NULL: all */
	char *server;	/* this netboot server's address, over the Cluster's (several sites) */
	/* images (url Images brought into the image store) */
	unsigned images_retries;    /* download attempts after the first */
	unsigned images_timeout_s;  /* download: no byte for this long is a failure */
	uint64_t images_max_size;   /* image file and decompressed disk, bytes */
	char *images_ca_file;	    /* extra CA bundle for https image urls */
	bool images_keep_downloads; /* keep the downloaded file after extraction */
	/* roots (node root file systems) */
	char *roots_copy_mode;		  /* auto, reflink or copy (noderoot.h) */
	unsigned roots_attic_retention_s; /* bramble gc removes attic entries older than this */
	/* boot observation: how long a booting node's switch may wait (boot.deferMax) */
	unsigned boot_defer_max_s;
	unsigned history_limit; /* passes kept in state/history (0: none; history.h) */
	/* notifications out (notify.h) */
	char *notify_url;	 /* one generic-JSON target (not a secret) */
	char *notify_url_file;	 /* secret: lines "FORMAT URL" */
	char *notify_token_file; /* secret: sent as Authorization: Bearer */
	char *notify_ca_file;	 /* extra CA bundle for https targets */
	unsigned notify_timeout_s;
	unsigned notify_retries;
	unsigned notify_boot_stall_s; /* a boot not at its kernel after this has stalled */
	/* the daemon's inotify watch of the output trees (watch.h) */
	unsigned watch_max;	     /* watch.maxWatches; 0: off */
	unsigned watch_full_check_s; /* watch.fullCheck: every sealed path stat-ed this often */
	bool watch_test_drop;	     /* watch.testDropEvents: for tests, events are missed */
};

/* Defaults for a system install. */
int config_init(struct bramble_config *c);
/* Put every output under dir (the demo and the tests): dir/tftp, dir/nfs, ... */
int config_set_root(struct bramble_config *c, const char *dir);
/*
 * Read a bramble.yaml over the current values.  Unknown keys and wrong types
 * are errors, with their position, in d (-EINVAL).
 */
int config_load(struct bramble_config *c, const char *path, struct diags *d);
/* Apply "section.key=value" (the --set flag), with the same checks as the file. */
int config_set_key(struct bramble_config *c, const char *assignment, struct diags *d);
/* A numeric key's accepted range as its messages say it ("1s to 7d"); -ENOENT. */
int config_key_range(const char *section, const char *key, char *out, size_t len);
/* Make every path absolute (relative to the working directory). */
int config_absolutize(struct bramble_config *c);
/*
 * The files the configuration names that libraries read (the SSH key, CA
 * bundles) or the daemon reads again later must be regular files: a FIFO
 * there would block a fetch or a download.  -EINVAL with a diag per file.
 */
int config_check_files(const struct bramble_config *c, struct diags *d);
/* Replace one string setting; NULL or "" clears it. */
int config_set(char **field, const char *value);
/* Feed every setting into ctx (the seal's key: a pass with other settings is a full one). */
int config_digest(const struct bramble_config *c, struct sha256_ctx *ctx);
/* Free every string setting; c is all zero after. */
void config_release(struct bramble_config *c);

#endif
