/* The syscalls the deny filter refuses (native/harden.c), tried by escape.c through every x86
 * ABI. One X-macro list so that each ABI's table (escape_abi.c) has the same order. */
#ifndef ESCAPE_H
#define ESCAPE_H

#define DENIED(X) \
	X(kexec_load) X(kexec_file_load) X(init_module) X(finit_module) X(delete_module) \
	X(open_by_handle_at) X(iopl) X(ioperm) X(acct) X(swapon) X(swapoff) X(syslog) X(uselib) \
	X(nfsservctl) X(lookup_dcookie) X(_sysctl) X(quotactl_fd) X(keyctl) X(add_key) X(request_key) \
	X(perf_event_open) X(bpf) X(userfaultfd) X(io_uring_setup) X(io_uring_enter) X(io_uring_register) \
	X(getpid)

/* Syscall numbers of the foreign ABIs, in DENIED order; -1 where the ABI lacks the call. */
extern const long probe_nrs_i386[];
extern const long probe_nrs_x32[];

#endif
