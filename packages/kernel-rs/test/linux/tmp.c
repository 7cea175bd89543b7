/*
 * /tmp, writable in memory per process (issue 28): `tmp ops` creates, writes, appends, reads
 * back, truncates, renames, lists, maps and removes files and directories and watches MemFree
 * move with what /tmp holds; `tmp attacks` tries what a hostile program would: writing until the
 * memory limit, a flood of files, paths and descriptors that climb out of /tmp with `..`, offsets
 * past any size, and the read-only tree. Every line is a known answer the test checks.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define E(x) ((x) < 0 ? errno : 0)

static long memfree_kb(void) {
  char b[512] = {0};
  int fd = open("/proc/meminfo", O_RDONLY);
  read(fd, b, sizeof b - 1);
  close(fd);
  char *p = strstr(b, "MemFree:");
  return p ? atol(p + 8) : -1;
}

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void list(const char *dir) {
  DIR *d = opendir(dir);
  char *names[64];
  int n = 0;
  struct dirent *e;
  while (d && (e = readdir(d)) && n < 64) names[n++] = strdup(e->d_name);
  if (d) closedir(d);
  qsort(names, n, sizeof *names, cmp);
  printf("ls %s:", dir);
  for (int i = 0; i < n; i++) printf(" %s", names[i]);
  printf("\n");
}

static ssize_t slurp(const char *path, char *buf, size_t n) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) return -errno;
  ssize_t r = read(fd, buf, n);
  close(fd);
  return r;
}

static int ops(void) {
  char b[64] = {0};
  int fd = open("/tmp/a", O_CREAT | O_WRONLY | O_TRUNC, 0640);
  ssize_t w = write(fd, "hello", 5);
  ssize_t pw = pwrite(fd, "XY", 2, 1);
  struct stat st;
  fstat(fd, &st);
  close(fd);
  slurp("/tmp/a", b, sizeof b);
  printf("write=%zd pwrite=%zd size=%lld mode=%o text=%s\n", w, pw, (long long)st.st_size, st.st_mode, b);
  fd = open("/tmp/a", O_WRONLY | O_APPEND);
  lseek(fd, 0, SEEK_SET);
  write(fd, "!", 1);
  close(fd);
  memset(b, 0, sizeof b);
  slurp("/tmp/a", b, sizeof b);
  printf("append text=%s excl=%d\n", b, E(open("/tmp/a", O_CREAT | O_EXCL | O_WRONLY, 0600)));
  // Directories, rename, rmdir.
  int m1 = E(mkdir("/tmp/d", 0755)), m2 = E(mkdir("/tmp/d", 0755)), m3 = E(mkdir("/tmp/no/d", 0755));
  close(open("/tmp/d/f", O_CREAT | O_WRONLY, 0600));
  close(open("/tmp/d/h", O_CREAT | O_WRONLY, 0600));
  int r1 = E(rename("/tmp/d/f", "/tmp/g")), s1 = E(stat("/tmp/d/f", &st)), s2 = E(stat("/tmp/g", &st));
  int rd1 = E(rmdir("/tmp/d")), u1 = E(unlink("/tmp/d/h")), rd2 = E(rmdir("/tmp/d")), u2 = E(unlink("/tmp/d"));
  printf("dirs mkdir=%d again=%d deep=%d rename=%d old=%d new=%d rmdir_full=%d unlink=%d rmdir=%d gone=%d\n", m1, m2, m3, r1, s1, s2, rd1, u1, rd2, u2);
  // rename over an existing file replaces it.
  fd = open("/tmp/over", O_CREAT | O_WRONLY, 0600);
  write(fd, "old", 3);
  close(fd);
  fd = open("/tmp/g", O_WRONLY);
  write(fd, "new", 3);
  close(fd);
  memset(b, 0, sizeof b);
  int r2 = E(rename("/tmp/g", "/tmp/over"));
  slurp("/tmp/over", b, sizeof b);
  printf("replace rename=%d text=%s g=%d\n", r2, b, E(stat("/tmp/g", &st)));
  // ftruncate down and up (a hole reads zeroes), pwrite far out (a sparse file).
  fd = open("/tmp/a", O_RDWR);
  ftruncate(fd, 3);
  memset(b, 0, sizeof b);
  pread(fd, b, sizeof b, 0);
  ftruncate(fd, 10000);
  char z[4] = {1, 1, 1, 1};
  ssize_t zr = pread(fd, z, 4, 5000);
  long before = memfree_kb();
  before = memfree_kb();
  pwrite(fd, "E", 1, 1 << 20);
  fstat(fd, &st);
  long after = memfree_kb();
  printf("truncate text=%s hole=%zd zero=%d size=%lld sparse=%d\n", b, zr, !z[0] && !z[3], (long long)st.st_size, before - after < 64);
  close(fd);
  // 1 MiB written is counted in the process's memory; unlinking gives it back.
  char *mb = malloc(1 << 20);
  for (int i = 0; i < 1 << 20; i++) mb[i] = (char)(i * 7);
  before = memfree_kb();
  fd = open("/tmp/big", O_CREAT | O_RDWR, 0600);
  size_t put = 0;
  while (put < 1 << 20) {
    ssize_t n = write(fd, mb + put, (1 << 20) - put);
    if (n <= 0) break;
    put += n;
  }
  long held = before - memfree_kb();
  char *map = mmap(NULL, 1 << 20, PROT_READ, MAP_PRIVATE, fd, 0);
  int mapped = map != MAP_FAILED && memcmp(map, mb, 1 << 20) == 0;
  if (map != MAP_FAILED) munmap(map, 1 << 20);
  char *back = malloc(1 << 20);
  lseek(fd, 0, SEEK_SET);
  size_t got = 0;
  while (got < 1 << 20) {
    ssize_t n = read(fd, back + got, (1 << 20) - got);
    if (n <= 0) break;
    got += n;
  }
  // Unlinked while open: still readable through the descriptor until it closes.
  unlink("/tmp/big");
  int gone = E(stat("/tmp/big", &st));
  char one = 0;
  ssize_t still = pread(fd, &one, 1, 7);
  long before_close = memfree_kb();
  close(fd);
  long freed = memfree_kb() - before_close;
  printf("big put=%zu same=%d mmap=%d held_kib_ge_1024=%d unlinked=%d still=%zd byte_ok=%d freed_kib_ge_1024=%d\n", put, got == put && memcmp(back, mb, put) == 0, mapped, held >= 1024, gone, still, one == (char)49, freed >= 1024);
  // Relative to a /tmp directory descriptor, `..` included.
  mkdir("/tmp/d2", 0700);
  int dfd = open("/tmp/d2", O_RDONLY | O_DIRECTORY);
  int x = openat(dfd, "x", O_CREAT | O_WRONLY, 0600);
  write(x, "rel", 3);
  close(x);
  memset(b, 0, sizeof b);
  int up = openat(dfd, "../over", O_RDONLY);
  read(up, b, sizeof b);
  close(up);
  int sx = E(stat("/tmp/d2/x", &st));
  int ua = E(unlinkat(dfd, "x", 0));
  int ub = E(unlinkat(AT_FDCWD, "/tmp/d2", AT_REMOVEDIR));
  printf("openat x=%d up=%s unlinkat=%d unlinkat_dir=%d\n", sx, b, ua, ub);
  close(dfd);
  list("/tmp");
  printf("access w=%d tmp_dir=%d\n", E(access("/tmp/a", W_OK)), stat("/tmp", &st) == 0 && S_ISDIR(st.st_mode));
  // The working directory: /tmp and below it, the tree, back to /.
  char cwd[4][64] = {{0}};
  int c1 = E(chdir("/tmp"));
  getcwd(cwd[0], 64);
  fd = open("rel", O_CREAT | O_WRONLY, 0600);
  write(fd, "cwd", 3);
  close(fd);
  memset(b, 0, sizeof b);
  slurp("/tmp/rel", b, sizeof b);
  mkdir("sub", 0700);
  int c2 = E(chdir("sub"));
  getcwd(cwd[1], 64);
  int c3 = E(chdir("../../etc"));
  getcwd(cwd[2], 64);
  char t[16] = {0};
  slurp("x", t, 5);
  int c4 = E(chdir("x")), c5 = E(chdir("/"));
  getcwd(cwd[3], 64);
  unlink("/tmp/rel");
  // A working directory removed under the process: relative names there are ENOENT.
  chdir("/tmp/sub");
  rmdir("/tmp/sub");
  char g[16];
  int gone_rel = E(open("f", O_CREAT | O_WRONLY, 0600));
  int gone_cwd = getcwd(g, sizeof g) ? 0 : errno;
  chdir("/");
  printf("cwd chdir=%d,%d,%d %s %s %s %s rel=%s tree_rel=%s notdir=%d root=%d removed=%d/%d\n", c1, c2, c3, cwd[0], cwd[1], cwd[2], cwd[3], b, t, c4, c5, gone_rel, gone_cwd);
  printf("tmp ops done\n");
  return 0;
}

static int attacks(void) {
  struct stat st;
  // Writing until the memory limit: ENOSPC, not a fault or a kernel out-of-memory.
  char *mb = calloc(1, 1 << 20);
  int fd = open("/tmp/fill", O_CREAT | O_WRONLY, 0600);
  long long total = 0;
  int err = 0;
  for (;;) {
    ssize_t n = write(fd, mb, 1 << 20);
    if (n < 0) { err = errno; break; }
    total += n;
    if (total > (64ll << 20)) break;
  }
  close(fd);
  unlink("/tmp/fill");
  fd = open("/tmp/again", O_CREAT | O_WRONLY, 0600);
  ssize_t again = write(fd, mb, 1 << 16);
  close(fd);
  unlink("/tmp/again");
  printf("fill errno=%d mib_ge_4=%d mib_lt_16=%d after_unlink=%zd\n", err, total >= (4 << 20), total < (16 << 20), again);
  // A flood of files: ENOSPC at the node limit, and room again once they go.
  char p[64];
  int made = 0;
  err = 0;
  for (int i = 0; i < 5000; i++) {
    snprintf(p, sizeof p, "/tmp/f%d", i);
    int f = open(p, O_CREAT | O_WRONLY, 0600);
    if (f < 0) { err = errno; break; }
    close(f);
    made++;
  }
  for (int i = 0; i < made; i++) {
    snprintf(p, sizeof p, "/tmp/f%d", i);
    unlink(p);
  }
  fd = open("/tmp/after", O_CREAT | O_WRONLY, 0600);
  printf("flood files=%d errno=%d after=%d\n", made, err, fd >= 0);
  close(fd);
  // Climbing out of /tmp with `..` lands in the read-only tree.
  mkdir("/tmp/sub", 0700);
  int dfd = open("/tmp/sub", O_RDONLY | O_DIRECTORY);
  char b[32] = {0};
  int rd = openat(dfd, "../../etc/x", O_RDONLY);
  read(rd, b, 5);
  close(rd);
  printf("dotdot w=%d creat=%d mkdir=%d at_w=%d at_read=%s rename_out=%d rename_in=%d unlink=%d root=%d\n", E(open("/tmp/../etc/x", O_WRONLY)), E(open("/tmp/../../../etc/new", O_CREAT | O_WRONLY, 0600)), E(mkdir("/tmp/../evil", 0700)),
         E(openat(dfd, "../../etc/x", O_WRONLY)), b, E(rename("/tmp/after", "/tmp/../etc/after")), E(rename("/etc/x", "/tmp/x")), E(unlink("/tmp/sub/../../etc/x")), E(rmdir("/tmp/sub/..")));
  close(dfd);
  // Sparse files far out: their page lists are bounded (256 MiB of span per /tmp), ENOSPC past it.
  int s1 = open("/tmp/sparse1", O_CREAT | O_RDWR, 0600), s2 = open("/tmp/sparse2", O_CREAT | O_RDWR, 0600);
  int sp1 = E(pwrite(s1, "x", 1, 200ll << 20)), sp2 = E(pwrite(s2, "x", 1, 200ll << 20));
  close(s1);
  unlink("/tmp/sparse1");
  int sp3 = E(pwrite(s2, "x", 1, 200ll << 20));
  close(s2);
  unlink("/tmp/sparse2");
  printf("span first=%d second=%d after_unlink=%d\n", sp1, sp2, sp3);
  // Offsets past any file, a directory moved into itself, writes through a read-only descriptor.
  fd = open("/tmp/after", O_RDWR);
  int ro = open("/tmp/after", O_RDONLY);
  printf("limits pwrite_far=%d truncate_far=%d into_self=%d ro_write=%d ro_truncate=%d neg=%d\n", E(pwrite(fd, "x", 1, 1ll << 40)), E(ftruncate(fd, 1ll << 40)), E(rename("/tmp/sub", "/tmp/sub/in")), E(write(ro, "x", 1)), E(ftruncate(ro, 0)),
         E(ftruncate(fd, -1)));
  // The tree: still read-only, and /tmp does not show through it.
  printf("tree open_w=%d creat=%d mkdir=%d truncate=%d tmp_is_own=%d\n", E(open("/etc/x", O_WRONLY)), E(creat("/etc/new", 0600)), E(mkdir("/etc/d", 0700)), E(truncate("/etc/x", 0)), E(stat("/etc/after", &st)));
  printf("tmp attacks done\n");
  return 0;
}

/* 8 MiB into /tmp, kept: the process ends holding it (the kernel must give it all back, and the
 * next process must find /tmp empty). */
static int fill(void) {
  char *mb = calloc(1, 1 << 20);
  struct stat st;
  int fresh = stat("/tmp/keep", &st) != 0;
  int fd = open("/tmp/keep", O_CREAT | O_EXCL | O_WRONLY, 0600);
  if (fd < 0) {
    printf("fill fresh=%d open errno=%d\n", fresh, errno);
    return 1;
  }
  long long total = 0;
  for (int i = 0; i < 8; i++) {
    for (size_t put = 0; put < 1 << 20;) {
      ssize_t n = write(fd, mb + put, (1 << 20) - put);
      if (n <= 0) return 1;
      put += n;
    }
    total += 1 << 20;
  }
  fstat(fd, &st);
  printf("fill fresh=%d kept=%lld size=%lld\n", fresh, total, (long long)st.st_size);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "ops") == 0) return ops();
  if (argc >= 2 && strcmp(argv[1], "fill") == 0) return fill();
  if (argc >= 2 && strcmp(argv[1], "attacks") == 0) return attacks();
  printf("usage: tmp ops | tmp attacks | tmp fill\n");
  return 2;
}
