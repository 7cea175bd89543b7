/* An ordinary C program (pthreads, pipes, poll, epoll, eventfd) as any Linux tool would use them;
 * nothing in it knows about TARS. The mode is argv[1] (module line `argv=waits+MODE`), so it also
 * checks that argv reaches the program. `answer` prints one line with a known answer; `attacks`
 * prints one line per hostile call. Built by the test with gcc -static. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

static long now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static long now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static int efd;
static int pfd[2];

/* Writes to the eventfd and the pipe after a while: the main thread is blocked in epoll_wait. */
static void *producer(void *a) {
  (void)a;
  for (int n = 1; n <= 5; n++) {
    usleep(2000);
    uint64_t v = (uint64_t)n;
    if (write(efd, &v, 8) != 8) printf("eventfd write failed %d\n", errno);
    char c = (char)('a' + n - 1);
    if (write(pfd[1], &c, 1) != 1) printf("pipe write failed %d\n", errno);
  }
  close(pfd[1]);
  return 0;
}

/* A blocking pipe: a reader thread blocks in read; 64 KiB go through a 4 KiB pipe. */
static void *reader(void *a) {
  int fd = *(int *)a;
  long total = 0, sum = 0;
  char buf[700];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    for (ssize_t i = 0; i < n; i++) sum += (unsigned char)buf[i];
    total += n;
  }
  return (void *)(total * 1000 + sum % 1000);
}

static volatile sig_atomic_t got;
static void on_usr1(int s) { got = s; }
static pthread_t main_thread;
static volatile int waited;
/* Signals the main thread until its epoll_wait has returned: a signal that lands before the
 * wait only runs the handler, and the next one interrupts the wait, however the threads run. */
static void *kicker(void *a) {
  while (!waited) {
    pthread_kill(main_thread, SIGUSR1);
    usleep(2000);
  }
  (void)a;
  return 0;
}

static int answer(void) {
  /* Non-blocking pipe: EAGAIN on empty and on full. */
  int np[2];
  if (pipe2(np, O_NONBLOCK | O_CLOEXEC) != 0) return printf("pipe2 failed %d\n", errno), 1;
  char c;
  int empty_again = read(np[0], &c, 1) == -1 && errno == EAGAIN;
  char blk[1024];
  memset(blk, 'x', sizeof blk);
  long filled = 0;
  for (;;) {
    ssize_t w = write(np[1], blk, sizeof blk);
    if (w < 0) break;
    filled += w;
  }
  int full_again = errno == EAGAIN;
  int flags = fcntl(np[0], F_GETFL);
  printf("nonblock empty=%d full=%d filled=%d getfl=%d\n", empty_again, full_again, filled > 0, (flags & O_NONBLOCK) != 0);

  /* poll: the write end of a full pipe is not writable, the read end is readable. */
  struct pollfd p[2] = {{np[0], POLLIN, 0}, {np[1], POLLOUT, 0}};
  int pr = poll(p, 2, 0);
  printf("poll full n=%d rin=%d wout=%d\n", pr, (p[0].revents & POLLIN) != 0, (p[1].revents & POLLOUT) != 0);
  close(np[0]);
  close(np[1]);

  /* eventfd + pipe + epoll across threads: a writer wakes the blocked epoll_wait. */
  efd = eventfd(0, EFD_NONBLOCK);
  if (efd < 0 || pipe(pfd) != 0) return printf("eventfd/pipe failed %d\n", errno), 1;
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 1};
  epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev);
  ev.events = EPOLLIN | EPOLLET;
  ev.data.u64 = 2;
  epoll_ctl(ep, EPOLL_CTL_ADD, pfd[0], &ev);
  pthread_t t;
  pthread_create(&t, 0, producer, 0);
  uint64_t evsum = 0;
  int pipe_bytes = 0, hup = 0, wakes = 0;
  char got_chars[8] = {0};
  while (!hup) {
    struct epoll_event out[4];
    int n = epoll_wait(ep, out, 4, 2000);
    if (n <= 0) return printf("epoll_wait returned %d errno %d\n", n, errno), 1;
    wakes++;
    for (int i = 0; i < n; i++) {
      if (out[i].data.u64 == 1) {
        uint64_t v;
        if (read(efd, &v, 8) == 8) evsum += v;
      } else {
        for (;;) {
          ssize_t r = read(pfd[0], &c, 1);
          if (r == 1) got_chars[pipe_bytes++ & 7] = c;
          if (r == 0) { hup = 1; break; }
          if (r < 0) break; /* blocking pipe: never EAGAIN here; 0 bytes left means we wait */
          struct pollfd q = {pfd[0], POLLIN, 0};
          if (poll(&q, 1, 0) == 0) break;
          if (q.revents & POLLHUP && !(q.revents & POLLIN)) { hup = 1; break; }
        }
      }
    }
  }
  pthread_join(t, 0);
  /* Drain what is left of the eventfd. */
  uint64_t v;
  while (read(efd, &v, 8) == 8) evsum += v;
  printf("epoll eventfd sum=%llu pipe=%s bytes=%d woke=%d\n", (unsigned long long)evsum, got_chars, pipe_bytes, wakes > 1);

  /* EFD_SEMAPHORE: each read takes one. */
  int sem = eventfd(3, EFD_SEMAPHORE | EFD_NONBLOCK);
  int reads = 0;
  while (read(sem, &v, 8) == 8 && v == 1) reads++;
  printf("semaphore reads=%d then=%d\n", reads, errno == EAGAIN);

  /* One-shot: reported once until re-armed. */
  int os = eventfd(1, 0);
  struct epoll_event oe = {.events = EPOLLIN | EPOLLONESHOT, .data.u64 = 7};
  epoll_ctl(ep, EPOLL_CTL_ADD, os, &oe);
  struct epoll_event o[2];
  int a = epoll_wait(ep, o, 2, 0);
  int b = epoll_wait(ep, o, 2, 0);
  epoll_ctl(ep, EPOLL_CTL_MOD, os, &oe);
  int c2 = epoll_wait(ep, o, 2, 0);
  printf("oneshot %d %d %d\n", a, b, c2);

  /* Timeouts: epoll_wait and poll on nothing last at least what was asked. */
  int idle = eventfd(0, 0);
  int ep2 = epoll_create(1);
  struct epoll_event ie = {.events = EPOLLIN};
  epoll_ctl(ep2, EPOLL_CTL_ADD, idle, &ie);
  long t0 = now_ms();
  int z = epoll_wait(ep2, o, 2, 30);
  long t1 = now_ms();
  struct pollfd ip = {idle, POLLIN, 0};
  int z2 = poll(&ip, 1, 20);
  long t2 = now_ms();
  fd_set rs;
  FD_ZERO(&rs);
  FD_SET(idle, &rs);
  struct timeval tv = {0, 10000};
  int z3 = select(idle + 1, &rs, 0, 0, &tv);
  long t3 = now_ms();
  printf("timeouts epoll=%d/%d poll=%d/%d select=%d/%d\n", z, t1 - t0 >= 30, z2, t2 - t1 >= 20, z3, t3 - t2 >= 10);

  /* A signal interrupts a blocked epoll_wait with EINTR. */
  struct sigaction sa = {0};
  sa.sa_handler = on_usr1;
  sigaction(SIGUSR1, &sa, 0);
  pthread_t k;
  main_thread = pthread_self();
  pthread_create(&k, 0, kicker, 0);
  int r = epoll_wait(ep2, o, 2, 5000);
  int e = errno;
  waited = 1;
  pthread_join(k, 0);
  printf("eintr r=%d errno=%d sig=%d\n", r, e, (int)got);

  /* A blocking pipe carries 64 KiB through its 4 KiB buffer: the writer blocks for room. */
  int bp[2];
  pipe(bp);
  pthread_t rd;
  pthread_create(&rd, 0, reader, &bp[0]);
  char chunk[4096];
  for (int i = 0; i < 4096; i++) chunk[i] = (char)(i % 7);
  long written = 0;
  for (int i = 0; i < 16; i++) {
    long off = 0;
    while (off < 4096) {
      ssize_t w = write(bp[1], chunk + off, 4096 - off);
      if (w <= 0) return printf("blocking write failed %d\n", errno), 1;
      off += w;
    }
    written += off;
  }
  close(bp[1]);
  void *res;
  pthread_join(rd, &res);
  printf("blocking pipe written=%ld read=%ld\n", written, (long)res);

  /* A periodic timerfd (10 ms) under epoll: three expirations take at least 30 ms. */
  int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
  int ep4 = epoll_create1(0);
  struct epoll_event te = {.events = EPOLLIN, .data.u64 = 4};
  epoll_ctl(ep4, EPOLL_CTL_ADD, tfd, &te);
  struct itimerspec its = {{0, 10000000}, {0, 10000000}};
  long u0 = now_us();
  timerfd_settime(tfd, 0, &its, 0);
  uint64_t expirations = 0;
  while (expirations < 3) {
    if (epoll_wait(ep4, o, 2, 1000) != 1) return printf("timerfd epoll_wait failed %d\n", errno), 1;
    if (read(tfd, &v, 8) != 8) return printf("timerfd read failed %d\n", errno), 1;
    expirations += v;
  }
  long waited = now_us() - u0;
  struct itimerspec cur;
  timerfd_gettime(tfd, &cur);
  struct itimerspec off = {{0, 0}, {0, 0}};
  timerfd_settime(tfd, 0, &off, 0);
  fcntl(tfd, F_SETFL, O_NONBLOCK);
  int disarmed = read(tfd, &v, 8) == -1 && errno == EAGAIN;
  printf("timerfd expirations>=3 %d waited>=30ms %d interval=%ld disarmed=%d\n", expirations >= 3, waited >= 30000, cur.it_interval.tv_nsec, disarmed);
  printf("waits answer ok\n");
  return 0;
}

static int attacks(void) {
  struct epoll_event o[4];
  /* epoll on a closed descriptor: ADD is EBADF; a watched descriptor that closes is dropped. */
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 9};
  int r1 = epoll_ctl(ep, EPOLL_CTL_ADD, 55, &ev);
  int e1 = errno;
  int e = eventfd(1, 0);
  epoll_ctl(ep, EPOLL_CTL_ADD, e, &ev);
  close(e);
  int n = epoll_wait(ep, o, 4, 0);
  int r2 = epoll_ctl(ep, EPOLL_CTL_DEL, e, &ev);
  int e2 = errno;
  printf("closed fd add=%d/%d wait=%d del=%d/%d\n", r1, e1, n, r2, e2);
  /* epoll_wait on a closed epoll descriptor and on a non-epoll one. */
  int p[2];
  pipe(p);
  int r3 = epoll_wait(p[0], o, 4, 0);
  int e3 = errno;
  close(ep);
  int r4 = epoll_wait(ep, o, 4, 0);
  int e4 = errno;
  printf("not epoll=%d/%d closed epoll=%d/%d\n", r3, e3, r4, e4);
  /* Huge maxevents: EINVAL past Linux's cap, EFAULT when the buffer cannot be that big. */
  ep = epoll_create1(0);
  int ready = eventfd(1, 0);
  epoll_ctl(ep, EPOLL_CTL_ADD, ready, &ev);
  /* Raw calls: the compiler rightly refuses these through the libc prototypes. */
  int r5 = (int)syscall(SYS_epoll_wait, ep, o, 0x7fffffff, 0);
  int e5 = errno;
  int r6 = (int)syscall(SYS_epoll_wait, ep, (long)o + 0x7fff00000000, 100000000, 0);
  int e6 = errno;
  int r7 = (int)syscall(SYS_epoll_wait, ep, o, -1, 0);
  int e7 = errno;
  printf("maxevents huge=%d/%d big=%d/%d negative=%d/%d\n", r5, e5, r6, e6, r7, e7);
  /* Bad events pointers: unmapped, kernel, null. */
  int r8 = (int)syscall(SYS_epoll_wait, ep, 0x1000, 4, 0);
  int e8 = errno;
  int r9 = (int)syscall(SYS_epoll_wait, ep, 0xffff800000000000ull, 4, 0);
  int e9 = errno;
  int r10 = (int)syscall(SYS_epoll_wait, ep, 0, 4, 0);
  int e10 = errno;
  int r11 = (int)syscall(SYS_epoll_ctl, ep, EPOLL_CTL_MOD, ready, 0x10);
  int e11 = errno;
  int r12 = (int)syscall(SYS_poll, 0x10, 1, 0);
  int e12 = errno;
  /* A read-only buffer (this program's code) is EFAULT too, and the event stays. */
  int r13 = (int)syscall(SYS_epoll_wait, ep, (long)&attacks, 4, 0);
  int e13 = errno;
  printf("bad pointers wait=%d/%d kernel=%d/%d null=%d/%d ctl=%d/%d poll=%d/%d readonly=%d/%d\n", r8, e8, r9, e9, r10, e10, r11, e11, r12, e12, r13, e13);
  /* The event is still there for a good buffer. */
  printf("still ready=%d\n", epoll_wait(ep, o, 4, 0));
  /* eventfd counter overflow: the largest count is 2^64-2; past it EAGAIN; 2^64-1 is EINVAL. */
  int ov = eventfd(0, EFD_NONBLOCK);
  uint64_t big = 0xfffffffffffffffeull, one = 1, all = ~0ull, got;
  ssize_t w1 = write(ov, &big, 8);
  ssize_t w2 = write(ov, &one, 8);
  int ew2 = errno;
  ssize_t w3 = write(ov, &all, 8);
  int ew3 = errno;
  ssize_t w4 = syscall(SYS_write, ov, &one, 4);
  int ew4 = errno;
  ssize_t rd = read(ov, &got, 8);
  printf("overflow w1=%zd w2=%zd/%d w3=%zd/%d short=%zd/%d read=%zd max=%d\n", w1, w2, ew2, w3, ew3, w4, ew4, rd, got == big);
  /* timerfd: a malformed time, the farthest time, a descriptor that is no timer. */
  int tf = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
  struct itimerspec bad = {{0, 0}, {0, 2000000000}};
  int t1 = timerfd_settime(tf, 0, &bad, 0);
  int et1 = errno;
  struct itimerspec far = {{0x7fffffffffffffff, 0}, {0x7fffffffffffffff, 999999999}};
  int t2 = timerfd_settime(tf, 0, &far, 0);
  ssize_t t3 = read(tf, &got, 8);
  int et3 = errno;
  int t4 = timerfd_settime(ov, 0, &far, 0);
  int et4 = errno;
  close(tf);
  printf("timerfd bad=%d/%d far=%d read=%zd/%d not-a-timer=%d/%d\n", t1, et1, t2, t3, et3, t4, et4);
  /* A descriptor flood: eventfds and epoll sets until the process's tables are full. */
  int fds = 0, last = 0;
  for (int i = 0; i < 10000; i++) {
    int f = i % 2 ? eventfd(0, 0) : epoll_create1(0);
    if (f < 0) { last = errno; if (last != EMFILE && last != ENOMEM && last != ENFILE) break; if (++fds > 100000) break; continue; }
    fds++;
  }
  int again = eventfd(0, 0);
  printf("flood stopped errno=%d emfile=%d again=%d\n", last, last == EMFILE || last == ENOMEM, again < 0);
  /* Pipes too: the process's share of the kernel's pipes, then EMFILE (the neighbour keeps its own). */
  int pp[2], npipes = 0;
  while (pipe(pp) == 0 && npipes < 1000) npipes++;
  printf("pipe flood stopped errno=%d bounded=%d\n", errno, npipes < 1000);
  /* Dozens of watches on one set: ENOSPC or success, never a crash. */
  int ep3 = dup(ep);
  int added = 0, lastw = 0;
  for (int f = 0; f < 64; f++) {
    if (epoll_ctl(ep3, EPOLL_CTL_ADD, f, &ev) == 0) added++;
    else lastw = errno;
  }
  printf("watches added=%d last=%d\n", added, lastw);
  printf("waits attacks done\n");
  return 0;
}

int main(int argc, char **argv) {
  setvbuf(stdout, 0, _IOLBF, 0);
  printf("argc=%d argv0=%s argv1=%s\n", argc, argv[0], argc > 1 ? argv[1] : "-");
  if (argc > 1 && !strcmp(argv[1], "answer")) return answer();
  if (argc > 1 && !strcmp(argv[1], "attacks")) return attacks();
  printf("usage: waits answer|attacks\n");
  return 2;
}
