/*
 * /init of the minimal Linux guest that TARS is benchmarked against (bench/linux-baseline.mjs).
 * Static, no libc beyond glibc's static startup. Under QEMU -icount shift=0 the TSC counts one tick
 * per instruction (and per ns of idle), so rdtsc deltas are instruction counts, the unit TARS's own
 * IPC figures use. Prints `TARSBENCH key=value` lines on the console (COM1), then powers off.
 *
 * Ping-pong pairs are two processes (fork), as TARS's ping and pong are two tasks in separate
 * address spaces: pipes (one byte each way), an AF_UNIX socketpair, and a futex word in a shared
 * mapping (FUTEX_WAIT/FUTEX_WAKE, not private). The two-thread pipe and eventfd round trips come
 * from rtt.c, the very loop a TARS agent runs (TARS has no fork). When the initramfs holds
 * /go-answer (the corpus's Go program), the TSC at the first byte it writes is boot → first
 * output of that program.
 */
#define _GNU_SOURCE
#include <linux/futex.h>
#include <linux/reboot.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <spawn.h>
#include <unistd.h>

#define ROUNDS 2000

#define RTT_NO_MAIN
#include "rtt.c"

static inline uint64_t rdtsc(void) {
  uint32_t lo, hi;
  __asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi));
  return ((uint64_t)hi << 32) | lo;
}

static void report(const char *name, uint64_t min, uint64_t sum) {
  printf("TARSBENCH %s_rtt_min=%llu\nTARSBENCH %s_rtt_avg=%llu\n", name, (unsigned long long)min, name, (unsigned long long)(sum / ROUNDS));
  fflush(stdout);
}

static void die(const char *what) {
  printf("TARSBENCH error=%s\n", what);
  fflush(stdout);
  reboot(LINUX_REBOOT_CMD_POWER_OFF);
  _exit(1);
}

/* One byte there and back over a pair of file descriptors (pipes or a socketpair). */
static void fd_pingpong(const char *name, int to_child_w, int to_child_r, int to_parent_w, int to_parent_r) {
  pid_t pid = fork();
  if (pid < 0) die("fork");
  char b = 0;
  if (pid == 0) {
    for (int i = 0; i < ROUNDS; i++) {
      if (read(to_child_r, &b, 1) != 1 || write(to_parent_w, &b, 1) != 1) _exit(1);
    }
    _exit(0);
  }
  uint64_t min = UINT64_MAX, sum = 0;
  for (int i = 0; i < ROUNDS; i++) {
    uint64_t t0 = rdtsc();
    if (write(to_child_w, &b, 1) != 1 || read(to_parent_r, &b, 1) != 1) die(name);
    uint64_t dt = rdtsc() - t0;
    sum += dt;
    if (dt < min) min = dt;
  }
  waitpid(pid, NULL, 0);
  report(name, min, sum);
}

static long futex(int *uaddr, int op, int val) { return syscall(SYS_futex, uaddr, op, val, NULL, NULL, 0); }

/* A shared word: the parent sets it to 1 and wakes the child, the child sets it to 0 and wakes
 * the parent; each waits while the word still holds its own value. */
static void futex_pingpong(void) {
  int *word = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (word == MAP_FAILED) die("mmap");
  *word = 0;
  pid_t pid = fork();
  if (pid < 0) die("fork");
  if (pid == 0) {
    for (int i = 0; i < ROUNDS; i++) {
      while (__atomic_load_n(word, __ATOMIC_ACQUIRE) == 0) futex(word, FUTEX_WAIT, 0);
      __atomic_store_n(word, 0, __ATOMIC_RELEASE);
      futex(word, FUTEX_WAKE, 1);
    }
    _exit(0);
  }
  uint64_t min = UINT64_MAX, sum = 0;
  for (int i = 0; i < ROUNDS; i++) {
    uint64_t t0 = rdtsc();
    __atomic_store_n(word, 1, __ATOMIC_RELEASE);
    futex(word, FUTEX_WAKE, 1);
    while (__atomic_load_n(word, __ATOMIC_ACQUIRE) == 1) futex(word, FUTEX_WAIT, 1);
    uint64_t dt = rdtsc() - t0;
    sum += dt;
    if (dt < min) min = dt;
  }
  waitpid(pid, NULL, 0);
  report("futex", min, sum);
}

#define SPAWNS 20
#define CLOCK_FD 100

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Start this program again as a child (fork+exec, or posix_spawn): the child's first act
 * (`main` with argv[1] = "child") is to read the clock and write it to CLOCK_FD, a pipe. Reports the
 * medians of spawn -> the child's main and spawn -> reaped, in instructions, as TARS's bench does
 * for `spawn`. */
static void spawn_bench(const char *name, int use_posix_spawn) {
  uint64_t first[SPAWNS], done[SPAWNS];
  char *argv[] = {"/init", "child", NULL};
  char *envp[] = {NULL};
  for (int i = 0; i < SPAWNS; i++) {
    int p[2];
    if (pipe(p)) die("pipe");
    /* The child writes its clock to CLOCK_FD: high enough that no pipe end lands there. */
    if (dup2(p[1], CLOCK_FD) < 0) die("dup2");
    close(p[1]);
    uint64_t t0 = rdtsc();
    pid_t pid;
    if (use_posix_spawn) {
      if (posix_spawn(&pid, "/init", NULL, NULL, argv, envp) != 0) die("posix_spawn");
    } else {
      pid = fork();
      if (pid < 0) die("fork");
      if (pid == 0) {
        execve("/init", argv, envp);
        _exit(127);
      }
    }
    uint64_t t_child = 0;
    if (read(p[0], &t_child, 8) != 8) die("child-clock");
    if (waitpid(pid, NULL, 0) != pid) die("waitpid");
    uint64_t t2 = rdtsc();
    close(p[0]);
    close(CLOCK_FD);
    first[i] = t_child - t0;
    done[i] = t2 - t0;
  }
  qsort(first, SPAWNS, 8, cmp_u64);
  qsort(done, SPAWNS, 8, cmp_u64);
  printf("TARSBENCH %s_first=%llu\nTARSBENCH %s_done=%llu\n", name, (unsigned long long)first[SPAWNS / 2], name, (unsigned long long)done[SPAWNS / 2]);
  fflush(stdout);
}

/* Run /go-answer (if present) with its stdout on a pipe: the TSC when its first byte arrives. */
static void go_first_output(void) {
  if (access("/go-answer", X_OK) != 0) return;
  int p[2];
  if (pipe(p)) die("pipe");
  pid_t pid = fork();
  if (pid == 0) {
    dup2(p[1], 1);
    char *argv[] = {"goprog", "x", "y", NULL};
    char *envp[] = {NULL};
    execve("/go-answer", argv, envp);
    _exit(127);
  }
  close(p[1]);
  char c;
  if (read(p[0], &c, 1) != 1) die("go-answer");
  uint64_t t = rdtsc();
  char rest[256];
  while (read(p[0], rest, sizeof rest) > 0) {
  }
  int status = 0;
  waitpid(pid, &status, 0);
  printf("TARSBENCH go_first_output_tsc=%llu\nTARSBENCH go_exit=%d\n", (unsigned long long)t, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  fflush(stdout);
}

/* The sandbox comparison (issue 26): the function sb-guest exports as `sum`, as a Linux program.
 * A request is two i64 on fd 0, the answer one i64 on fd 1; `fn-once` answers one and exits,
 * `fn-serve` answers until its input closes. */
static int fn_serve(int once) {
  int64_t req[2];
  while (read(0, req, sizeof req) == sizeof req) {
    int64_t r = req[0] + req[1];
    if (write(1, &r, sizeof r) != sizeof r) return 1;
    if (once) return 0;
  }
  return 0;
}

#define FN_CALLS 20

/* Start /init in `mode` with a request pipe on its fd 0 and an answer pipe on its fd 1; our ends
 * in *to and *from. */
static pid_t fn_start(const char *mode, int *to, int *from) {
  int in[2], out[2];
  if (pipe(in) || pipe(out)) die("pipe");
  char *argv[] = {"/init", (char *)mode, NULL};
  char *envp[] = {NULL};
  pid_t pid = fork();
  if (pid < 0) die("fork");
  if (pid == 0) {
    if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0) _exit(126);
    close(in[0]), close(in[1]), close(out[0]), close(out[1]);
    execve("/init", argv, envp);
    _exit(127);
  }
  close(in[0]), close(out[1]);
  *to = in[1], *from = out[0];
  return pid;
}

/* sum(2, 40) as a fresh process per call (fork+exec, request, answer, reaped: the median) and as
 * one long-lived process over a pipe (request and answer: min and average of ROUNDS). */
static void fn_bench(void) {
  int64_t req[2] = {2, 40}, res = 0;
  uint64_t each[FN_CALLS];
  for (int i = 0; i < FN_CALLS; i++) {
    int to, from;
    uint64_t t0 = rdtsc();
    pid_t pid = fn_start("fn-once", &to, &from);
    if (write(to, req, sizeof req) != sizeof req || read(from, &res, sizeof res) != sizeof res || res != 42) die("fn-once");
    if (waitpid(pid, NULL, 0) != pid) die("fn-once-wait");
    each[i] = rdtsc() - t0;
    close(to), close(from);
  }
  qsort(each, FN_CALLS, 8, cmp_u64);
  int to, from;
  pid_t pid = fn_start("fn-serve", &to, &from);
  uint64_t min = UINT64_MAX, sum = 0;
  for (int i = 0; i < ROUNDS; i++) {
    uint64_t t0 = rdtsc();
    if (write(to, req, sizeof req) != sizeof req || read(from, &res, sizeof res) != sizeof res || res != 42) die("fn-serve");
    uint64_t dt = rdtsc() - t0;
    sum += dt;
    if (dt < min) min = dt;
  }
  close(to);
  if (waitpid(pid, NULL, 0) != pid) die("fn-serve-wait");
  close(from);
  printf("TARSBENCH fn_forkexec=%llu\n", (unsigned long long)each[FN_CALLS / 2]);
  report("fn_pipe", min, sum);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "fn-once") == 0) _exit(fn_serve(1));
  if (argc > 1 && strcmp(argv[1], "fn-serve") == 0) _exit(fn_serve(0));
  if (argc > 1 && strcmp(argv[1], "child") == 0) {
    uint64_t t = rdtsc();
    if (write(CLOCK_FD, &t, 8) != 8) _exit(1);
    _exit(0);
  }
  uint64_t at_init = rdtsc();
  printf("TARSBENCH init_tsc=%llu\n", (unsigned long long)at_init);
  mkdir("/proc", 0555);
  if (mount("proc", "/proc", "proc", 0, NULL) != 0) die("mount-proc");
  FILE *m = fopen("/proc/meminfo", "r");
  if (!m) die("meminfo");
  char line[128];
  unsigned long long total = 0, free_kb = 0;
  while (fgets(line, sizeof line, m)) {
    sscanf(line, "MemTotal: %llu kB", &total);
    sscanf(line, "MemFree: %llu kB", &free_kb);
  }
  fclose(m);
  printf("TARSBENCH mem_total_kb=%llu\nTARSBENCH mem_used_kb=%llu\n", total, total - free_kb);
  fflush(stdout);

  int a[2], b[2];
  if (pipe(a) || pipe(b)) die("pipe");
  fd_pingpong("pipe", a[1], a[0], b[1], b[0]);
  int s[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, s)) die("socketpair");
  fd_pingpong("socketpair", s[0], s[1], s[1], s[0]);
  futex_pingpong();
  if (rtt_threads()) die("rtt");
  go_first_output();
  spawn_bench("forkexec", 0);
  spawn_bench("posix_spawn", 1);
  fn_bench();
  printf("TARSBENCH done=1\n");
  fflush(stdout);
  sync();
  reboot(LINUX_REBOOT_CMD_POWER_OFF);
  return 0;
}
