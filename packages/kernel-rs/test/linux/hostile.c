/* A hostile static Linux program: every system call here aims at the kernel (its addresses, its
 * tables, its limits). Each must fail with an error status, never touch kernel memory, never
 * stall the kernel; the last step forges a signal frame and must end only this process.
 * Raw syscall() throughout: glibc's wrappers would refuse some arguments first. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define KERNEL ((long)0x100000)        /* the kernel image (identity-mapped, supervisor) */
#define HIGH ((long)0xffff800000000000) /* the upper half */
#define NONCANON ((long)0x0000900000000000)

static pthread_mutex_t never = PTHREAD_MUTEX_INITIALIZER;
static void *block_forever(void *a) {
  (void)a;
  pthread_mutex_lock(&never);
  return 0;
}

static long sc(long n, long a, long b, long c, long d, long e, long f) { return syscall(n, a, b, c, d, e, f); }
#define R(name, expr) do { errno = 0; long r_ = (expr); printf("%s %ld %d\n", name, r_, r_ < 0 ? errno : 0); fflush(stdout); } while (0)

int main(void) {
  pthread_mutex_lock(&never);
  R("read-into-kernel", sc(SYS_read, 0, KERNEL, 64, 0, 0, 0));
  R("write-from-kernel", sc(SYS_write, 1, KERNEL, 64, 0, 0, 0));
  R("write-from-high", sc(SYS_write, 1, HIGH, 64, 0, 0, 0));
  R("mmap-fixed-kernel", sc(SYS_mmap, KERNEL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
  R("mmap-fixed-high", sc(SYS_mmap, HIGH, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
  R("mmap-huge", sc(SYS_mmap, 0, (long)1 << 62, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  R("mmap-wrap", sc(SYS_mmap, 0x7ffffffff000, 0x2000, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
  R("mmap-file", sc(SYS_mmap, 0, 4096, PROT_READ, MAP_PRIVATE, 0, 0));
  R("mprotect-kernel", sc(SYS_mprotect, KERNEL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, 0, 0, 0));
  R("munmap-kernel", sc(SYS_munmap, KERNEL, 1 << 20, 0, 0, 0, 0));
  R("madvise-kernel", sc(SYS_madvise, KERNEL, 1 << 20, MADV_DONTNEED, 0, 0, 0));
  R("brk-huge", sc(SYS_brk, (long)1 << 62, 0, 0, 0, 0, 0));
  R("futex-kernel", sc(SYS_futex, KERNEL, 0 /* WAIT */, 0, 0, 0, 0));
  R("futex-unaligned", sc(SYS_futex, KERNEL + 1, 1, 1, 0, 0, 0));
  R("arch-prctl-noncanonical", sc(SYS_arch_prctl, 0x1002, NONCANON, 0, 0, 0, 0));
  R("arch-prctl-get-kernel", sc(SYS_arch_prctl, 0x1003, KERNEL, 0, 0, 0, 0));
  R("clone-noncanonical-tls", sc(SYS_clone, 0x100 | 0x800 | 0x10000 | 0x80000, 0, 0, 0, NONCANON, 0));
  R("clone3-kernel-args", sc(SYS_clone3, KERNEL, 88, 0, 0, 0, 0));
  R("fork", sc(SYS_fork, 0, 0, 0, 0, 0, 0));
  R("sigaction-kill", sc(SYS_rt_sigaction, SIGKILL, KERNEL, 0, 8, 0, 0));
  R("sigaction-from-kernel", sc(SYS_rt_sigaction, SIGUSR1, KERNEL, 0, 8, 0, 0));
  R("sigaltstack-kernel", sc(SYS_sigaltstack, KERNEL, 0, 0, 0, 0, 0));
  R("tgkill-other", sc(SYS_tgkill, 9999, 9999, SIGKILL, 0, 0, 0));
  R("kill-other", sc(SYS_kill, 12345, SIGKILL, 0, 0, 0, 0));
  R("clock-gettime-kernel", sc(SYS_clock_gettime, 1, KERNEL, 0, 0, 0, 0));
  R("getrandom-kernel", sc(SYS_getrandom, KERNEL, 1 << 20, 0, 0, 0, 0));
  R("readlink-kernel", sc(SYS_readlink, (long)"/proc/self/exe", KERNEL, 64, 0, 0, 0));
  R("uname-kernel", sc(SYS_uname, KERNEL, 0, 0, 0, 0, 0));
  R("pipe-kernel", sc(SYS_pipe2, KERNEL, 0, 0, 0, 0, 0));
  R("writev-kernel-iov", sc(SYS_writev, 1, KERNEL, 4, 0, 0, 0));
  R("nanosleep-bad", sc(SYS_nanosleep, KERNEL, 0, 0, 0, 0, 0));
  R("tars-log-kernel", sc(0x1000, KERNEL, 64, 0, 0, 0, 0));
  R("tars-state-load-kernel", sc(0x100f, KERNEL, 256, 0, 0, 0, 0));
  R("tars-call-no-cap", sc(0x1003, 7, 1, 2, 3, 4, 0));
  R("unknown-high", sc(0xfff, 0, 0, 0, 0, 0, 0));
  /* Read-only image pages stay read-only. */
  volatile char *text = (volatile char *)main;
  printf("text byte %d\n", text[0] != 0);
  R("mprotect-text-writable", sc(SYS_mprotect, (long)main & ~4095L, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, 0, 0, 0));
  text[0] = text[0]; /* a private copy now: the module image itself is untouched */
  /* Exhaustion: each kernel table a process can fill ends in an error status, not a halt. */
  {
    long made = 0;
    int r = 0;
    pthread_t t;
    for (int i = 0; i < 40; i++) {
      /* Threads that block forever on a lock nobody releases. */
      if ((r = pthread_create(&t, 0, block_forever, 0)) != 0) break;
      made++;
    }
    printf("threads-until-refused %ld %d\n", made, r);
    int fds[2], pipes = 0;
    while (syscall(SYS_pipe2, (long)fds, 0) == 0) pipes++;
    printf("pipes-until-refused %d %d\n", pipes, errno);
    long areas = 0;
    for (int i = 0; i < 1000; i++) {
      /* Alternating protections keep every mapping its own area. */
      if (sc(SYS_mmap, 0, 4096, (i & 1) ? PROT_READ : PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) < 0) break;
      areas++;
    }
    printf("areas-until-refused %s %d\n", areas < 1000 ? "yes" : "no", errno);
    fflush(stdout);
  }
  printf("hostile calls done\n");
  fflush(stdout);
  /* A forged signal frame: kernel code segment, a kernel rip, IOPL 3. Must fault only us. */
  uint64_t frame[64] = {0};
  frame[(8 + 40) / 8 + 16] = KERNEL;              /* rip */
  frame[(8 + 40) / 8 + 15] = KERNEL;              /* rsp */
  frame[(8 + 40) / 8 + 17] = 0x3202;              /* rflags with IOPL 3 */
  frame[(8 + 40) / 8 + 18] = 0x08;                /* cs = kernel code */
  __asm__ volatile("mov %0, %%rsp\n mov $15, %%eax\n syscall" ::"r"(&frame[1]) : "memory");
  printf("still alive?\n");
  return 0;
}
