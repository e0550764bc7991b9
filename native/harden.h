/* Isolation policy applied to everything that runs in a container (init, and what exec/enter
 * start from the host): a seccomp deny list and the capability bounding set. Stacked on top of
 * the sysinfo notification filter (seccomp_notify.h): the kernel acts on the most severe
 * result of all filters, so ERRNO here beats USER_NOTIF there.
 *
 * The deny list (EPERM unless noted), from what LXC, Docker/moby and crun refuse by default:
 *   kexec_load, kexec_file_load, reboot of the host is namespaced already (kept for init);
 *   init_module, finit_module, delete_module   (module loading; also CAP_SYS_MODULE dropped)
 *   open_by_handle_at                          (the "shocker" escape: file handles bypass the root)
 *   iopl, ioperm                               (raw port I/O)
 *   acct, swapon, swapoff, syslog              (host-global state)
 *   uselib, nfsservctl, lookup_dcookie, _sysctl (obsolete host-global interfaces)
 *   quotactl_fd                                (host quota changes by fd)
 *   keyctl, add_key, request_key -> ENOSYS     (the kernel keyring is not namespaced; ENOSYS makes
 *                                               callers like systemd fall back, as with LXC)
 *   perf_event_open, bpf -> EPERM              (host-wide tracing and programs)
 *   userfaultfd -> EPERM                       (a classic exploit primitive; Docker refuses it too)
 * The i386 ABI (int 0x80) gets the same list by its own numbers; the x32 ABI is refused whole
 * (ENOSYS), as no container needs it and its numbers would bypass a native-only list. */
#ifndef CTSPAWN_HARDEN_H
#define CTSPAWN_HARDEN_H

/* Installs the deny filter on the calling thread (no_new_privs or CAP_SYS_ADMIN in its user
 * namespace needed). 0, or -1 with errno. */
int harden_seccomp(void);

/* Drops the capabilities numbered in caps (strings of decimal numbers, NULL-terminated) from
 * the bounding set of the calling thread; what its exec'd program gets as root is then
 * bounded. 0, or -1 with errno (the name of the failing one in *failed). */
int harden_caps(char *const *caps, const char **failed);

#endif
