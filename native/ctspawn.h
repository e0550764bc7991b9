/* Declarations shared by the "start" pieces: config, spawn (M), init (C), rootfs, monitor. */
#ifndef CTSPAWN_H
#define CTSPAWN_H

#include <stdbool.h>
#include <stdnoreturn.h>
#include <sys/types.h>

#include "control.h"
#include "json.h"
#include "loadavg.h"
#include "sysinfo_virt.h"

struct config {
	const char *rootfs, *hostname, *uid_map, *gid_map;
	char **init, **env;
	const char *console_log, *socket, *pidfile, *statusfile;
	char **rmdirs, **umounts;
	char **poststop; /* argv run after init has ended (host network cleanup), or empty */
	char **bind_src, **bind_dst; /* host files bind-mounted over paths inside (LXCFS) */
	char **devnodes; /* names under /dev, bind-mounted from devnode_dir/NAME */
	const char *devnode_dir;
	const char *shm_size;      /* bytes (decimal) for /dev/shm's size=; NULL: the kernel's default */
	const char *sysinfo_memcg; /* NULL: sysinfo(2) is not intercepted */
	int sysinfo_cgver;         /* 1 or 2 with sysinfo_memcg */
	const char *loadavg_file;  /* NULL: no load averages of its own (also without sysinfo_memcg) */
	const char *cgroup_mount;  /* "cgroup2": the container's cgroup2 view on /sys/fs/cgroup; NULL: none */
	char **on_reboot;          /* run by the monitor after teardown when init ended by a reboot */
	char **cap_drop;           /* capability numbers dropped from init's bounding set */
	bool nesting;              /* namespaces CRIU cannot dump are allowed inside (harden.h) */
	bool pressure;             /* /proc/pressure shown (read-only): systemd watches memory pressure */
	char **ns_allow;           /* kinds this node's CRIU dumps nested, allowed anyway ("uts", "ipc") */
	/* "ctspawn restore" only (protocol.h, RESTORE): */
	const char *criu;          /* path of the criu binary */
	char **criu_args;          /* arguments after "criu restore" that node chose */
	const char *console_key;   /* "tty[RDEV:DEV]" of the dumped console (hex), for --inherit-fd */
	uid_t root_uid;
	gid_t root_gid, tty_gid;
	bool debug;
	struct jobj obj; /* owns every string above */
};

/* Parses a {"t":"config",...} object; on failure writes a message to err. */
int config_parse(const char *line, size_t len, struct config *cfg, char *err, size_t errlen);

struct start_ctx {
	struct config cfg;
	bool have_cfg;
	struct ctl ctl;
	int sigfd;              /* signalfd for SIGCHLD/TERM/INT/HUP/PIPE */
	pid_t init_pid;         /* host pid of C, 0 before clone */
	int master, slave;      /* console pty; M keeps the slave open so the master never hangs up */
	char pts_path[64];
	int listen_fd, log_fd;
	bool own_socket, own_pidfile; /* only remove what we created */
	int go_r, go_w, err_r, err_w;
	int ntf_m, ntf_c;       /* socketpair over which init passes the seccomp listener to M */
	struct sysinfo_virt sv; /* sysinfo interception (cfg.sysinfo_memcg) */
	int sictl_fd;           /* listening "<socket>.ctl": listeners of exec'd process trees */
	char sictl_path[108];   /* its path (sizeof sun_path) */
	bool own_sictl;
	struct loadavg la;      /* the container's load averages (cfg.loadavg_file) */
};

/* The fixed-size failure record init writes to the err pipe. */
struct child_err {
	int stage;
	int err;
	char msg[256];
};

int cmd_start(void);
int cmd_restore(void); /* restore.c */
int cmd_tcp_unrepair(int argc, char **argv); /* tcp_unrepair.c */

/* spawn.c pieces shared with restore.c */
enum wait_result { GOT_LINE, EXTRA_READY };
noreturn void fail(struct start_ctx *ctx, int stage, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
enum wait_result wait_ctl(struct start_ctx *ctx, int stage, int extra_fd, char **line, size_t *len);
void expect_msg(struct start_ctx *ctx, int stage, const char *want);
void read_config(struct start_ctx *ctx);
/* Start and restore: fds, the control channel and the signalfd, before the config. */
void start_ctx_init(struct start_ctx *ctx);
void open_console(struct start_ctx *ctx);
void open_monitor_files(struct start_ctx *ctx);
void write_pidfile(struct start_ctx *ctx);

/* spawn.c: abort a start (any stage before the monitor is detached): report, kill init,
 * clean up, exit 1. msg may be NULL when the peer is gone. */
noreturn void start_abort(struct start_ctx *ctx, int stage, int err, const char *msg);
/* Debug log: {"t":"log"} while attached, stderr afterwards. */
void debug_log(struct start_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* init.c: runs in C; never returns. */
noreturn void init_main(struct start_ctx *ctx);
/* init.c: report a setup failure over the err pipe and _exit(1). */
noreturn void child_fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* rootfs.c: mounts, /dev, pivot_root (runs in C, fails through child_fail). */
void rootfs_setup(const struct config *cfg, const char *pts_path, int slave_fd);

/* monitor.c */
noreturn void monitor_run(struct start_ctx *ctx);
/* rmdirs (with the cgroups below them), umounts, and the socket / pidfile / loadavg_file if ours. */
void teardown(struct start_ctx *ctx);

#endif
