/*
 * Files from the read-only tree at / (issue 28): `files read PATH` reads a file with open, read,
 * pread, lseek, fstat and mmap and lists its directory with getdents64, printing a checksum and
 * the cycles (TSC) a read() pass and an mmap pass took; `files attacks` tries the paths and
 * calls a hostile program would. Every line is a known answer the test checks.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <time.h>
#include <x86intrin.h>

static uint64_t fnv(const unsigned char *p, size_t n, uint64_t h) {
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* MemFree from /proc/meminfo (under `mem=`: the limit less what the process holds). */
static long memfree_kb(void) {
  char b[512] = {0};
  int fd = open("/proc/meminfo", O_RDONLY);
  read(fd, b, sizeof b - 1);
  close(fd);
  char *p = strstr(b, "MemFree:");
  return p ? atol(p + 8) : -1;
}

static int read_case(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) { printf("open %s errno=%d\n", path, errno); return 1; }
  struct stat st;
  if (fstat(fd, &st) != 0) { printf("fstat errno=%d\n", errno); return 1; }
  printf("fstat size=%lld reg=%d\n", (long long)st.st_size, S_ISREG(st.st_mode));
  static unsigned char buf[65536];
  uint64_t n0 = now_ns(), t0 = __rdtsc(), h = 0xcbf29ce484222325ull;
  size_t total = 0;
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) { printf("read errno=%d\n", errno); return 1; }
    if (n == 0) break;
    h = fnv(buf, n, h);
    total += n;
  }
  uint64_t t1 = __rdtsc(), n1 = now_ns();
  printf("read total=%zu fnv=%016llx\n", total, (unsigned long long)h);
  // pread at an offset leaves the file offset alone; lseek moves it.
  unsigned char a[16], b[16];
  ssize_t pr = pread(fd, a, 16, 4096 + 7);
  off_t cur = lseek(fd, 0, SEEK_CUR);
  off_t set = lseek(fd, 4096 + 7, SEEK_SET);
  ssize_t rr = read(fd, b, 16);
  off_t end = lseek(fd, 0, SEEK_END);
  printf("pread=%zd same=%d cur=%lld set=%lld end=%lld\n", pr, pr == 16 && rr == 16 && memcmp(a, b, 16) == 0, (long long)cur, (long long)set, (long long)end);
  long free_before = memfree_kb();
  uint64_t n2 = now_ns(), t2 = __rdtsc();
  unsigned char *m = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (m == MAP_FAILED) { printf("mmap errno=%d\n", errno); return 1; }
  uint64_t hm = fnv(m, st.st_size, 0xcbf29ce484222325ull);
  uint64_t t3 = __rdtsc(), n3 = now_ns();
  long free_after = memfree_kb();
  printf("mmap fnv=%016llx same=%d\n", (unsigned long long)hm, hm == h);
  printf("mmap frames_used_kib=%ld\n", free_before - free_after);
  // A private writable mapping is the program's own copy: the tree stays as it was.
  unsigned char *w = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  unsigned char first = m[0];
  if (w != MAP_FAILED) w[0] = first ^ 0xff;
  printf("private write ok=%d tree kept=%d\n", w != MAP_FAILED && w[0] == (unsigned char)(first ^ 0xff), m[0] == first);
  void *sh = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  printf("shared writable=%d errno=%d\n", sh == MAP_FAILED ? -1 : 0, errno);
  munmap(m, st.st_size);
  printf("figure read_cycles=%llu mmap_cycles=%llu read_ns=%llu mmap_ns=%llu\n", (unsigned long long)(t1 - t0), (unsigned long long)(t3 - t2), (unsigned long long)(n1 - n0), (unsigned long long)(n3 - n2));
  // The directory the file is in, by getdents64.
  char dir[256];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash == dir) slash[1] = 0; else *slash = 0;
  int dfd = open(dir, O_RDONLY | O_DIRECTORY);
  char dents[1024];
  int names = 0, dots = 0;
  for (;;) {
    long n = syscall(SYS_getdents64, dfd, dents, sizeof dents);
    if (n <= 0) break;
    for (long o = 0; o < n;) {
      struct dirent64 *d = (struct dirent64 *)(dents + o);
      if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0) dots++;
      else names++;
      o += d->d_reclen;
    }
  }
  printf("getdents dir=%s names=%d dots=%d\n", dir, names, dots);
  close(dfd);
  close(fd);
  printf("files read done\n");
  return 0;
}

#define E(call) ((call) < 0 ? errno : 0)

static int attacks(void) {
  char buf[64] = {0};
  // `..` never climbs above the root.
  int fd = open("/../../../../etc/../../etc/x", O_RDONLY);
  ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
  printf("dotdot fd_ok=%d read=%zd text=%.5s\n", fd >= 0, n, buf);
  int etc = open("/etc", O_RDONLY | O_DIRECTORY);
  struct stat root, up;
  stat("/", &root);
  fstatat(etc, "../../../..", &up, 0);
  printf("dotdot from dir same_as_root=%d\n", root.st_ino == up.st_ino);
  close(fd);
  printf("loop errno=%d\n", E(open("/loop1", O_RDONLY)));
  char link[64] = {0};
  printf("readlink loop1=%zd %s\n", readlink("/loop1", link, sizeof link), link);
  char longp[2100];
  memset(longp, 'a', sizeof longp - 1);
  longp[0] = '/';
  longp[sizeof longp - 1] = 0;
  int toolong = E(open(longp, O_RDONLY));
  longp[300] = 0;
  printf("too long path=%d name=%d\n", toolong, E(open(longp, O_RDONLY)));
  printf("not dir=%d missing=%d\n", E(open("/etc/x/y", O_RDONLY)), E(open("/etc/none", O_RDONLY)));
  // Writing to the tree.
  int w1 = E(open("/etc/x", O_WRONLY)), w2 = E(open("/etc/new", O_CREAT | O_WRONLY, 0644)), w3 = E(mkdir("/d", 0755)), w4 = E(unlink("/etc/x"));
  int w5 = E(open("/etc/x", O_RDWR | O_TRUNC)), w6 = E(access("/etc/x", W_OK));
  fd = open("/etc/x", O_RDONLY);
  int w7 = E(write(fd, "x", 1));
  printf("erofs open_w=%d creat=%d mkdir=%d unlink=%d trunc=%d access_w=%d write_fd=%d\n", w1, w2, w3, w4, w5, w6, w7);
  close(fd);
  // A huge read into a buffer followed by nothing: the bytes up to the hole, then a short count.
  int big = open("/data/big", O_RDONLY);
  unsigned char *two = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  munmap(two + 4096, 4096);
  ssize_t h = read(big, two, (size_t)1 << 40);
  ssize_t k = read(big, (void *)0xffff800000000000ull, 4096);
  int kerr = errno;
  ssize_t huge = read(big, malloc(16 << 20), 16 << 20);
  printf("huge read short=%zd kernel=%zd/%d capped=%d\n", h, k, kerr, huge > 0 && huge <= (8 << 20));
  close(big);
  // A descriptor flood: EMFILE for this process, and everything works again after closing.
  int fds[200], opened = 0, err = 0;
  for (int i = 0; i < 200; i++) {
    fds[i] = open("/etc/x", O_RDONLY);
    if (fds[i] < 0) { err = errno; break; }
    opened++;
  }
  for (int i = 0; i < opened; i++) close(fds[i]);
  int again = open("/etc/x", O_RDONLY);
  printf("flood opened=%d errno=%d again=%d\n", opened, err, again >= 0);
  // The kernel's own files.
  char mi[256] = {0}, on[8] = {0}, exe[64] = {0};
  fd = open("/proc/meminfo", O_RDONLY);
  read(fd, mi, sizeof mi - 1);
  close(fd);
  fd = open("/sys/devices/system/cpu/online", O_RDONLY);
  read(fd, on, sizeof on - 1);
  close(fd);
  fd = open("/dev/zero", O_RDONLY);
  unsigned char z[8] = {1, 1, 1, 1, 1, 1, 1, 1};
  read(fd, z, 8);
  close(fd);
  readlink("/proc/self/exe", exe, sizeof exe - 1);
  fd = open("/proc/self/exe", O_RDONLY);
  char elf[4] = {0};
  read(fd, elf, 4);
  printf("kernel files meminfo=%d online=%c zero=%d exe=%s elf=%d\n", strncmp(mi, "MemTotal:", 9) == 0, on[0], z[0] == 0 && z[7] == 0, exe, memcmp(elf, "\177ELF", 4) == 0);
  printf("files attacks done\n");
  return 0;
}

/* /proc/self/maps, read 100 bytes at a time: each line printed, then whether the stack line
 * holds a local, an executable image line holds main, [heap] holds the brk end, and a
 * PROT_NONE reservation shows as exactly its range. */
int main(int argc, char **argv);

static int maps_case(void) {
  static char text[32768];
  void *none = mmap(NULL, 65536, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  sbrk(4096);
  unsigned long brk_end = (unsigned long)sbrk(0) - 1;
  int local = 0;
  int fd = open("/proc/self/maps", O_RDONLY);
  size_t n = 0;
  ssize_t r;
  while ((r = read(fd, text + n, 100)) > 0 && n + 100 < sizeof text) n += r;
  char again[32768];
  ssize_t whole = pread(fd, again, sizeof again, 0);
  close(fd);
  text[n] = 0;
  int stack = 0, exe = 0, heap = 0, res = 0, lines = 0;
  for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
    unsigned long lo, hi, off, ino;
    unsigned maj, min;
    char perms[8] = {0}, name[256] = {0};
    printf("maps %s\n", line);
    lines++;
    if (sscanf(line, "%lx-%lx %7s %lx %x:%x %lu %255s", &lo, &hi, perms, &off, &maj, &min, &ino, name) < 7) continue;
    unsigned long l = (unsigned long)&local, m = (unsigned long)&main;
    if (lo <= l && l < hi && strcmp(name, "[stack]") == 0) stack = 1;
    if (lo <= m && m < hi && perms[2] == 'x' && strcmp(name, "/tars/agents/mapper") == 0) exe = 1;
    if (lo <= brk_end && brk_end < hi && strcmp(name, "[heap]") == 0) heap = 1;
    if (lo == (unsigned long)none && hi == lo + 65536 && strcmp(perms, "---p") == 0) res = 1;
  }
  printf("maps summary lines_ge_4=%d stack=%d exe=%d heap=%d reservation=%d same_whole=%d\n", lines >= 4, stack, exe, heap, res, whole == (ssize_t)n);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "maps") == 0) return maps_case();
  if (argc >= 3 && strcmp(argv[1], "read") == 0) return read_case(argv[2]);
  if (argc >= 2 && strcmp(argv[1], "attacks") == 0) return attacks();
  printf("usage: files read PATH | files attacks\n");
  return 2;
}
