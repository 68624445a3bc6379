/*
 * model: the desired state of a bramble, as loaded from the manifests.
 *
 * A manifest_set is what one revision of the repository says, already
 * validated: every reference resolved, every Node merged with its Cluster
 * defaults and its Profiles (maps merge, lists and scalars replace; later
 * profiles override earlier ones; the node overrides all).  The reconcilers
 * read it and never change it.  Every string is owned by the set and freed by
 * manifest_set_free().  Arrays are sorted by name so that everything rendered
 * from a set is deterministic.
 */
#ifndef BRAMBLE_MODEL_H
#define BRAMBLE_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diag.h"

#define BRAMBLE_API_VERSION "bramble/v1alpha1"

enum dhcp_mode {
	DHCP_MODE_PROXY,    /* default: the router keeps addresses; we answer PXE only */
	DHCP_MODE_FULL,	    /* our dnsmasq hands out addresses and static leases */
	DHCP_MODE_EXTERNAL, /* another DHCP server; we document option 66/43 */
};

enum tftp_prefix {
	TFTP_PREFIX_SERIAL, /* <tftp>/1234abcd/ (EEPROM TFTP_PREFIX=0) */
	TFTP_PREFIX_MAC,    /* <tftp>/dc-a6-32-01-36-c2/ (TFTP_PREFIX=2) */
};

enum nfs_backend {
	NFS_BACKEND_KERNEL,  /* exports file + exportfs -ra */
	NFS_BACKEND_GANESHA, /* EXPORT blocks + SIGHUP */
};

enum pi_model {
	PI_MODEL_PI3, /* Pi 3B/3B+: bootcode.bin at the TFTP root */
	PI_MODEL_PI4,
	PI_MODEL_PI5,
};

enum root_mode {
	ROOT_MODE_PRIVATE, /* its own writable copy of the image root */
	ROOT_MODE_SHARED,  /* read-only image root + tmpfs overlay on the node */
};

enum config_txt_form {
	CONFIG_TXT_NONE,
	CONFIG_TXT_LINES, /* a list: lines appended in order */
	CONFIG_TXT_MAP,	  /* a map: key=value lines, sorted by key */
};

struct strlist {
	char **v;
	size_t n;
};

struct kv {
	char *key;
	char *value;
};

/* Key/value pairs, sorted by key, keys unique. */
struct kvlist {
	struct kv *v;
	size_t n;
};

/*
 * A secret is either given in the manifest (value) or as {file: PATH} on the
 * controller host (file), read only when it is needed.  Never log either.
 */
struct secret {
	char *value;
	char *file;
	struct pos pos;
};

struct config_txt {
	enum config_txt_form form;
	struct strlist lines;
	struct kvlist map;
};

struct user {
	char *name;
	struct secret password_hash; /* crypt(3) hash; both fields NULL: no password */
	struct strlist ssh_keys;
	bool sudo;
};

struct wifi {
	char *ssid; /* NULL: no Wi-Fi */
	struct secret passphrase;
	char *country;
};

enum tristate { TRI_UNSET, TRI_FALSE, TRI_TRUE };

struct first_boot {
	char *hostname; /* NULL: the node's hostname */
	struct user *users;
	size_t n_users;
	enum tristate ssh;
	struct wifi wifi;
	char *timezone;
	char *keymap;
};

struct cluster {
	char *name;
	struct pos pos;
	char *server;	    /* netboot server IPv4, dotted quad */
	uint32_t server_ip; /* host byte order */
	char *interface;    /* NULL: any */
	enum dhcp_mode dhcp_mode;
	char *subnet;	     /* "10.99.0.0/24" as written (normalised) */
	uint32_t subnet_ip;  /* network address, host byte order */
	unsigned prefix_len; /* 0..32 */
	char *router;	     /* NULL: none (full mode: option 3 omitted) */
	struct strlist dns;  /* IPv4 addresses */
	char *range_start;   /* full mode dynamic pool; NULL: static leases only */
	char *range_end;
	unsigned lease_seconds; /* default 3600 */
	unsigned nfs_version;	/* 3 (default) or 4 */
	enum nfs_backend nfs_backend;
	enum tftp_prefix tftp_prefix;
};

struct image {
	char *name;
	struct pos pos;
	char *url;    /* https/http/file URL, or NULL */
	char *sha256; /* 64 lowercase hex, or NULL (allowed only for file:// and path) */
	char *path;   /* local directory holding boot/ and root/, relative to the
			  image store, safe (no "..", not absolute); or NULL */
};

struct profile {
	char *name;
	struct pos pos;
};

struct node {
	char *name; /* metadata.name: a safe path component */
	struct pos pos;
	char serial[9]; /* 8 lowercase hex + NUL */
	bool has_mac;
	uint8_t mac[6];
	char mac_str[18]; /* "dc:a6:32:01:36:c2" lowercase, or "" */
	bool has_ip;
	uint32_t ip;	 /* host byte order */
	char ip_str[16]; /* dotted quad, or "" */
	char *hostname;	 /* defaults to name */
	enum pi_model model;
	struct strlist profiles;
	struct image *image; /* resolved; never NULL in a valid set */
	struct config_txt config_txt;
	struct strlist cmdline; /* extra kernel arguments, in order */
	enum root_mode root_mode;
	unsigned root_generation;
	struct first_boot first_boot;
	struct kvlist labels;
	/*
	 * A node of a delta load (manifests_load_delta): known from the record
	 * of the last pass, not parsed.  Only what is written above its
	 * profiles (name to model), image and root_mode is set; stub_owners
	 * names the reconcilers that had resources of it ("tftp,dhcp").
	 */
	char doc_digest[33]; /* of its document's bytes (128 bits of SHA-256, hex) */
	bool stub;
	bool stub_first_boot;
	const char *stub_owners;
	size_t stub_resources;
};

struct manifest_set {
	struct cluster *cluster;
	struct image **images; /* sorted by name */
	size_t n_images;
	struct profile **profiles; /* sorted by name */
	size_t n_profiles;
	struct node **nodes; /* sorted by name */
	size_t n_nodes;
	struct strlist files; /* every manifest file read, relative, sorted */
	bool *file_other;     /* per file: holds a document that is not a Node */
	size_t n_stubs;	      /* nodes that are stubs (a delta load) */
	void *priv;	      /* loader's own storage (interned strings, trees) */
};

/* One manifest file handed to the loader: a name for messages, and content. */
struct manifest_file {
	const char *name; /* relative path, e.g. "nodes/rack1.yaml" */
	const char *data;
	size_t len;
};

/* Limits the loader enforces on untrusted input. */
#define MANIFEST_MAX_FILE_SIZE	    ((size_t)8 << 20)	/* per file */
#define MANIFEST_MAX_TOTAL_SIZE	    ((size_t)256 << 20) /* per revision */
#define MANIFEST_MAX_FILES	    10000
#define MANIFEST_MAX_DOCUMENTS	    100000  /* per revision */
#define MANIFEST_MAX_NODES_PER_FILE 2000000 /* YAML nodes after alias expansion */
#define MANIFEST_MAX_DEPTH	    64

/*
 * Load, merge and validate a whole revision from in-memory files.
 * On success *ret is a valid set and d is empty.  On validation errors,
 * returns -EINVAL with every problem in d and *ret untouched.  Other negative
 * errno values are system errors (e.g. -ENOMEM).
 */
int manifests_load_files(const struct manifest_file *files, size_t n_files, struct diags *d,
			 struct manifest_set **ret);

/*
 * Load every *.yaml / *.yml file under dir (recursively; hidden entries,
 * symlinks and other non-regular files are skipped), then as
 * manifests_load_files().  File names in messages are relative to dir.
 * Limits (number of files, total size) are reported in d as -EINVAL.
 */
int manifests_load_dir(const char *dir, struct diags *d, struct manifest_set **ret);

/*
 * Read the manifest files under dir as manifests_load_dir() does, without
 * loading them: names and data are heap-allocated, freed with
 * manifest_files_free().  A file over MANIFEST_MAX_FILE_SIZE has data NULL
 * and len its size (manifests_load_files() reports it at file:1:1).
 */
int manifests_read_dir(const char *dir, struct diags *d, struct manifest_file **ret_files,
		       size_t *ret_n);
/* Free what manifests_read_dir() returned. */
void manifest_files_free(struct manifest_file *files, size_t n);

/*
 * A node as the last pass recorded it (reconcilers/seal.h): enough to check
 * a new node against it (names, serials, MACs, addresses and hostnames are
 * unique) and to render what every node shares (exports, bootcode.bin).
 */
struct node_stub {
	const char *file; /* the manifest file that holds it */
	unsigned line, col;
	const char *name, *serial, *mac, *ip, *hostname; /* mac, ip: "" when none */
	const char *model, *image, *root_mode;		 /* as pi_model_name() etc. */
	const char *owners;
	const char *doc_digest;
	bool first_boot;
	size_t n_resources; /* its resources (top-level), all in place */
};

/*
 * A delta load: the files given (those that changed, and every file that
 * holds anything but Nodes) are loaded as manifests_load_files() does, and
 * the nodes of the files that did not change join the set as stubs.  The
 * checks between nodes see the stubs.  Returns as manifests_load_files(), or
 * -ESTALE when a stub does not fit the loaded documents (its image is gone,
 * a value is malformed): the caller loads every file instead.
 */
int manifests_load_delta(const struct manifest_file *files, size_t n_files,
			 const struct node_stub *stubs, size_t n_stubs, struct diags *d,
			 struct manifest_set **ret);

/* Free a set and everything it holds; NULL is fine. */
void manifest_set_free(struct manifest_set *set);

/*
 * Every {file: …} secret of the set names a path inside dir (the
 * controller's paths.secretsDir; NULL: none is configured), by the text of
 * the paths: `bramble validate` reports one outside it at its file:line:col.
 * Returns 0, -EINVAL with the problems added to d, or -ENOMEM.
 */
int manifests_check_secret_places(const struct manifest_set *set, const char *dir, struct diags *d);

/* Lookups in a valid set (binary search by name); NULL when absent. */
const struct node *manifest_set_node(const struct manifest_set *set, const char *name);
const struct image *manifest_set_image(const struct manifest_set *set, const char *name);
/* True when some node of the set boots img (an image no node uses is not fetched). */
bool manifest_set_uses_image(const struct manifest_set *set, const struct image *img);

/* Whether a node asks for anything at first boot. */
bool first_boot_is_set(const struct first_boot *fb);
/* The names the manifests spell these values with (model "pi4", ...). */
const char *pi_model_name(enum pi_model m);
const char *dhcp_mode_name(enum dhcp_mode m);
const char *root_mode_name(enum root_mode m);

/* Whether s is a safe path component: [A-Za-z0-9._-], 1..63, not "." or "..". */
bool name_is_safe(const char *s);

#endif
