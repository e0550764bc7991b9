/* The numbers of the DENIED list (escape.h) in one foreign ABI, from the kernel's own headers:
 * escape.test.ts compiles this file twice, with -DPROBE_I386 (asm/unistd_32.h: int 0x80) and
 * without (asm/unistd_x32.h: x32, numbers with __X32_SYSCALL_BIT). Its own unit so that these
 * __NR_ names do not clash with the native ones of escape.c. */
#include "escape.h"

#ifdef PROBE_I386
#include <asm/unistd_32.h>
#define TABLE probe_nrs_i386
#else
/* Defined by asm/unistd.h, which would also pull in the native numbers. */
#define __X32_SYSCALL_BIT 0x40000000
#include <asm/unistd_x32.h>
#define TABLE probe_nrs_x32
#endif

/* What one ABI lacks (i386: kexec_file_load; x32: uselib, nfsservctl, _sysctl). */
#ifndef __NR_kexec_file_load
#define __NR_kexec_file_load -1
#endif
#ifndef __NR_uselib
#define __NR_uselib -1
#endif
#ifndef __NR_nfsservctl
#define __NR_nfsservctl -1
#endif
#ifndef __NR__sysctl
#define __NR__sysctl -1
#endif

#define NR(n) __NR_##n,
const long TABLE[] = { DENIED(NR) };
