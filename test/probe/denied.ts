/**
 * The seccomp deny list of ctspawn as documented in native/harden.h: syscall name -> the errno a
 * container sees. One copy for the unit test that replays the filter (test/unit/native/harden.test.ts)
 * and for the escape probe's test (test/integration/escape.test.ts).
 */
export const DENIED: Readonly<Record<string, 'EPERM' | 'ENOSYS'>> = {
  kexec_load: 'EPERM', kexec_file_load: 'EPERM', init_module: 'EPERM', finit_module: 'EPERM', delete_module: 'EPERM',
  open_by_handle_at: 'EPERM', iopl: 'EPERM', ioperm: 'EPERM', acct: 'EPERM', swapon: 'EPERM', swapoff: 'EPERM',
  syslog: 'EPERM', uselib: 'EPERM', nfsservctl: 'EPERM', lookup_dcookie: 'EPERM', _sysctl: 'EPERM', quotactl_fd: 'EPERM',
  keyctl: 'ENOSYS', add_key: 'ENOSYS', request_key: 'ENOSYS', perf_event_open: 'EPERM', bpf: 'EPERM', userfaultfd: 'EPERM',
  io_uring_setup: 'ENOSYS', io_uring_enter: 'ENOSYS', io_uring_register: 'ENOSYS',
};

/** What each ABI lacks of the list (the kernel's uapi headers). */
export const MISSING: Readonly<Record<'x86_64' | 'i386' | 'x32', readonly string[]>> = {
  x86_64: [],
  i386: ['kexec_file_load'],
  x32: ['uselib', 'nfsservctl', '_sysctl'],
};
