/* A static Linux program that exercises what the kernel's Linux personality offers; the mode
 * comes from PROBE (module line `env=PROBE=…`). Each mode prints what it saw, one line each;
 * the test reads those lines from the kernel's log events. Built by the test with gcc. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static void *worker(void *a) {
  long n = (long)a;
  size_t sz = 100000 * (n + 1);
  char *p = malloc(sz);
  memset(p, (int)n, sz);
  long s = 0;
  for (size_t k = 0; k < sz; k += 4096) s += p[k];
  free(p);
  printf("thread %ld ok %ld\n", n, s);
  return (void *)(n * 2);
}

static int threads(void) {
  pthread_t t[4];
  for (long i = 0; i < 4; i++) pthread_create(&t[i], 0, worker, (void *)i);
  long sum = 0;
  for (int i = 0; i < 4; i++) {
    void *r;
    pthread_join(t[i], &r);
    sum += (long)r;
  }
  printf("joined sum %ld\n", sum);
  return 0;
}

static sigjmp_buf jb;
static volatile int got;
static void on_sig(int sig, siginfo_t *si, void *uc) {
  (void)uc;
  got = sig;
  printf("handler sig %d code %d addr %p\n", sig, si->si_code, si->si_addr);
  if (sig != SIGUSR1) siglongjmp(jb, 1);
}

static int signals(void) {
  struct sigaction sa = {0};
  sa.sa_sigaction = on_sig;
  sa.sa_flags = SA_SIGINFO;
  sigaction(SIGSEGV, &sa, 0);
  sigaction(SIGFPE, &sa, 0);
  sigaction(SIGUSR1, &sa, 0);
  if (!sigsetjmp(jb, 1)) {
    volatile int *p = (int *)8;
    *p = 1;
  }
  printf("after segv %d\n", got);
  if (!sigsetjmp(jb, 1)) {
    volatile int a = 1, b = 0;
    printf("%d\n", a / b);
  }
  printf("after fpe %d\n", got);
  raise(SIGUSR1);
  printf("after usr1 %d\n", got);
  /* An alternate stack. */
  stack_t ss = {.ss_sp = malloc(65536), .ss_size = 65536};
  sigaltstack(&ss, 0);
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigaction(SIGSEGV, &sa, 0);
  if (!sigsetjmp(jb, 1)) {
    volatile int *p = (int *)16;
    *p = 1;
  }
  printf("after altstack segv %d\n", got);
  return 0;
}

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int timeouts(void) {
  struct timespec t0, t1, dl;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  clock_gettime(CLOCK_REALTIME, &dl);
  dl.tv_nsec += 50 * 1000000;
  if (dl.tv_nsec >= 1000000000) { dl.tv_sec++; dl.tv_nsec -= 1000000000; }
  pthread_mutex_lock(&mu);
  int r = pthread_cond_timedwait(&cv, &mu, &dl);
  pthread_mutex_unlock(&mu);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
  printf("timedwait %s after %s (%ld ms)\n", r == ETIMEDOUT ? "ETIMEDOUT" : "other", ms >= 50 ? ">=50ms" : "early", ms);
  struct timespec d = {0, 20 * 1000000};
  clock_gettime(CLOCK_MONOTONIC, &t0);
  nanosleep(&d, 0);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
  printf("nanosleep %s (%ld ms)\n", ms >= 20 ? ">=20ms" : "early", ms);
  return 0;
}

static int unknown(void) {
  long r = syscall(999, 1, 2, 3);
  printf("syscall 999 = %ld errno %d\n", r, errno);
  r = syscall(999);
  printf("fork = %d\n", (int)syscall(SYS_fork));
  return 0;
}

static void report(const char *what) { printf("%s\n", what); fflush(stdout); }

/* Frames the process holds now, in KiB: under a memory limit (`mem=`) the kernel's sysinfo
 * reports the limit as totalram and what is left of it as freeram. */
static long used_kib(void) {
  struct sysinfo si;
  if (sysinfo(&si) != 0) return -1;
  return (long)((si.totalram - si.freeram) * si.mem_unit / 1024);
}

static int memory(void) {
  /* A 64 GiB reservation costs nothing; touching 256 pages costs 256 frames; madvise gives
   * them back. Each step prints what the kernel counts for this process at that moment. */
  size_t big = 64UL << 30;
  char *r = mmap(0, big, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  printf("reserve %s\n", r == MAP_FAILED ? "failed" : "ok");
  mprotect(r, 1 << 20, PROT_READ | PROT_WRITE);
  for (int i = 0; i < 256; i++) r[i * 4096] = 1;
  printf("touched 256 used_kib %ld\n", used_kib());
  madvise(r, 1 << 20, MADV_DONTNEED);
  printf("after dontneed %d\n", r[0]);
  printf("discarded used_kib %ld\n", used_kib());
  munmap(r, big);
  return 0;
}

static int oom(void) {
  for (size_t n = 0;; n++) {
    char *p = mmap(0, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    for (int i = 0; i < 256; i++) p[i * 4096] = 1;
    if (n % 4 == 0) printf("mapped %zu MiB\n", n + 1);
  }
}

/* A TARS shared buffer (capability slot 0, `shm=NAME`) from a Linux process: map it, write,
 * munmap it (the kernel's frames must survive), map it again, and tell the reader through the
 * notification in slot 1 (`notify=NAME`); the reader waits for it, then reads. */
static long tars2(long nr, long a0, long a1, unsigned long *out) {
  register long rdi __asm__("rdi") = a0;
  register long rsi __asm__("rsi") = a1;
  long rax = nr;
  __asm__ volatile("syscall" : "+a"(rax), "+r"(rdi), "+r"(rsi) : : "rcx", "r11", "rdx", "r10", "r8", "memory");
  if (out) *out = (unsigned long)rdi;
  return rax;
}
#define TARS_NOTIFY 0x1007
#define TARS_WAIT 0x1008
#define TARS_SHM_MAP 0x1009

static int shm_write(void) {
  unsigned long a = 0;
  long st = tars2(TARS_SHM_MAP, 0, 0, &a);
  if (st != 0) { printf("shm map failed %ld\n", st); return 1; }
  strcpy((char *)a, "hello through shared memory");
  munmap((void *)a, 16 * 4096);
  unsigned long b = 0;
  st = tars2(TARS_SHM_MAP, 0, 0, &b);
  printf("shm remapped %ld same %d kept %d\n", st, a == b, strcmp((char *)b, "hello through shared memory") == 0);
  tars2(TARS_NOTIFY, 1, 1, 0);
  return 0;
}

static int shm_read(void) {
  unsigned long a = 0, bits = 0;
  if (tars2(TARS_SHM_MAP, 0, 0, &a) != 0) return 1;
  if (tars2(TARS_WAIT, 1, 0, &bits) != 0) return 1;
  printf("shm read %s\n", (char *)a);
  return 0;
}

static int crash(void) {
  report("about to crash");
  volatile int *p = (int *)0;
  return *p;
}

int main(void) {
  const char *m = getenv("PROBE");
  printf("probe %s pid %d tid %d agent %s caps %s\n", m ? m : "-", getpid(), gettid(), getenv("TARS_AGENT"), getenv("TARS_CAPS"));
  fflush(stdout);
  if (!m) return 2;
  if (!strcmp(m, "threads")) return threads();
  if (!strcmp(m, "signals")) return signals();
  if (!strcmp(m, "timeouts")) return timeouts();
  if (!strcmp(m, "unknown")) return unknown();
  if (!strcmp(m, "memory")) return memory();
  if (!strcmp(m, "oom")) return oom();
  if (!strcmp(m, "crash")) return crash();
  if (!strcmp(m, "shm-write")) return shm_write();
  if (!strcmp(m, "shm-read")) return shm_read();
  if (!strcmp(m, "exit7")) return 7;
  return 3;
}
