/*
 * Signals against blocking calls, as Linux defines them (issue 28): a handler installed with
 * SA_RESTART restarts a blocked pipe read and an untimed futex wait; without it the read is
 * EINTR; poll, epoll_wait and a timed futex wait are EINTR whatever the flag; ppoll, pselect6
 * and epoll_pwait wait under their own signal mask, applied atomically: a signal pending and
 * blocked before the call is delivered inside it (EINTR, the handler running under the call's
 * mask, the old mask back afterwards), and one the call's mask blocks does not interrupt it but
 * is delivered as it returns. A helper thread signals until the blocked call has shown what it
 * does (no sleeps). Every line is a known answer the test checks.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static volatile int handled, finished, in_call, handler_saw_usr2;
static pid_t target;
static int pfd[2];
static int word;
/* What the nagger does once `handled` reaches `want`: 0 nothing, 1 write the pipe, 2 wake the futex. */
static int want, then;

static void on_usr1(int s) {
  (void)s;
  handled++;
  sigset_t cur;
  sigprocmask(SIG_BLOCK, NULL, &cur);
  handler_saw_usr2 = sigismember(&cur, SIGUSR2);
}

static void handler(int flags) {
  struct sigaction sa = {0};
  sa.sa_handler = on_usr1;
  sa.sa_flags = flags;
  sigaction(SIGUSR1, &sa, 0);
}

/* Signal the main thread until the call returned, or until `want` handlers ran (then act). */
static void *nagger(void *arg) {
  (void)arg;
  while (!finished && (want == 0 || handled < want)) {
    syscall(SYS_tgkill, getpid(), target, SIGUSR1);
    sched_yield();
  }
  if (then == 1) write(pfd[1], "x", 1);
  if (then == 2) {
    __atomic_store_n(&word, 1, __ATOMIC_SEQ_CST);
    syscall(SYS_futex, &word, FUTEX_WAKE, 1, 0, 0, 0);
  }
  return 0;
}

/* Wait until main is in its ppoll, signal it once, then make the pipe readable. */
static void *blocker(void *arg) {
  (void)arg;
  while (!in_call) sched_yield();
  sched_yield();
  syscall(SYS_tgkill, getpid(), target, SIGUSR1);
  sched_yield();
  write(pfd[1], "y", 1);
  return 0;
}

static pthread_t start(int w, int t) {
  pthread_t th;
  handled = 0;
  finished = 0;
  want = w;
  then = t;
  pthread_create(&th, 0, nagger, 0);
  return th;
}

static void stop(pthread_t th) {
  finished = 1;
  pthread_join(th, 0);
}

int main(void) {
  target = (pid_t)syscall(SYS_gettid);
  pipe(pfd);
  char c;

  /* A pipe read: SA_RESTART restarts it through three handlers, then the byte arrives. */
  handler(SA_RESTART);
  pthread_t th = start(3, 1);
  ssize_t r = read(pfd[0], &c, 1);
  int e = errno;
  stop(th);
  printf("read SA_RESTART r=%zd errno=%d handlers>=3 %d\n", r, r < 0 ? e : 0, handled >= 3);

  /* Without SA_RESTART: EINTR. */
  handler(0);
  th = start(0, 0);
  r = read(pfd[0], &c, 1);
  e = errno;
  stop(th);
  printf("read no-restart r=%zd errno=%d\n", r, e);

  /* poll and epoll_wait: EINTR even with SA_RESTART. */
  handler(SA_RESTART);
  struct pollfd p = {.fd = pfd[0], .events = POLLIN};
  th = start(0, 0);
  int pr = poll(&p, 1, -1);
  e = errno;
  stop(th);
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN}, out;
  epoll_ctl(ep, EPOLL_CTL_ADD, pfd[0], &ev);
  th = start(0, 0);
  int er = epoll_wait(ep, &out, 1, -1);
  int ee = errno;
  stop(th);
  printf("SA_RESTART poll=%d/%d epoll_wait=%d/%d\n", pr, e, er, ee);

  /* An untimed futex wait restarts (and sees the word change); a timed one is EINTR. */
  word = 0;
  th = start(3, 2);
  long fr = syscall(SYS_futex, &word, FUTEX_WAIT, 0, 0, 0, 0);
  e = errno;
  stop(th);
  int restarted = (fr == 0 || e == EAGAIN) && handled >= 3 && word == 1;
  word = 0;
  struct timespec ten = {10, 0};
  th = start(0, 0);
  long ft = syscall(SYS_futex, &word, FUTEX_WAIT, 0, &ten, 0, 0);
  int fe = errno;
  stop(th);
  printf("futex untimed restarted=%d timed=%ld/%d\n", restarted, ft, fe);

  /* ppoll, pselect6, epoll_pwait: SIGUSR1 blocked and pending before the call; the call's mask
   * lets it through (and blocks SIGUSR2): EINTR at once, the handler runs under the call's mask,
   * the old mask is back after. */
  sigset_t usr1, usr2, now;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  sigemptyset(&usr2);
  sigaddset(&usr2, SIGUSR2);
  const char *names[3] = {"ppoll", "pselect6", "epoll_pwait"};
  for (int k = 0; k < 3; k++) {
    sigprocmask(SIG_BLOCK, &usr1, NULL);
    handled = 0;
    handler_saw_usr2 = 0;
    raise(SIGUSR1);
    int before = handled;
    int rr, re;
    if (k == 0) {
      rr = ppoll(&p, 1, NULL, &usr2);
    } else if (k == 1) {
      fd_set rd;
      FD_ZERO(&rd);
      FD_SET(pfd[0], &rd);
      rr = pselect(pfd[0] + 1, &rd, NULL, NULL, NULL, &usr2);
    } else {
      rr = epoll_pwait(ep, &out, 1, -1, &usr2);
    }
    re = errno;
    sigprocmask(SIG_BLOCK, NULL, &now);
    printf("%s pending r=%d/%d before=%d handled=%d under_call_mask=%d restored=%d\n", names[k], rr, re, before, handled, handler_saw_usr2, sigismember(&now, SIGUSR1) && !sigismember(&now, SIGUSR2));
    sigprocmask(SIG_UNBLOCK, &usr1, NULL);
  }

  /* The call's mask blocks SIGUSR1 (otherwise open): a signal sent during the wait does not
   * interrupt it; the byte written after it does, and the handler runs as the call returns. */
  handler(0);
  handled = 0;
  in_call = 0;
  pthread_t b;
  pthread_create(&b, 0, blocker, 0);
  in_call = 1;
  p.revents = 0;
  int br = ppoll(&p, 1, NULL, &usr1);
  int be = errno;
  int after = handled;
  pthread_join(b, 0);
  read(pfd[0], &c, 1);
  printf("ppoll masked r=%d/%d revents_in=%d handled_on_return=%d\n", br, br < 0 ? be : 0, !!(p.revents & POLLIN), after);
  printf("sigwaits done\n");
  return 0;
}
