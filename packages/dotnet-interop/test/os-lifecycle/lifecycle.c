/* The lifecycle calls through libtars from a static C program (sdk-lifecycle.test.ts): run as the
 * parent, it spawns the Rust `spawner` image (mode 101: exit at once with code arg >> 8; 100: idle
 * until killed) and a second instance of itself, and checks each answer against the kernel's
 * contract; run as that child (TARS_ARG = CHILD_ARG, set on its module line), it exits with
 * CHILD_CODE. One `FAIL …` line per wrong answer; `sdk-lifecycle c: ok` when all were right. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tars.h"

#define CHILD_ARG 7
#define CHILD_CODE 23

static int failures;

static void expect(const char *what, int64_t got, int64_t want) {
  if (got != want) {
    printf("FAIL %s: got %" PRId64 ", want %" PRId64 "\n", what, got, want);
    failures++;
  }
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  const char *arg = getenv("TARS_ARG");
  if (arg && strtoull(arg, NULL, 10) == CHILD_ARG) {
    printf("c child running\n");
    return CHILD_CODE;
  }
  if (!tars_present()) {
    printf("FAIL not running on TARS OS\n");
    return 1;
  }
  tars_child_t c;
  int64_t code = 0;
  uint64_t handle = 0;

  /* A Rust child that exits at once with 42: its code and handle come back from wait_child. */
  expect("spawn exiting child", tars_spawn("spawner", 101 | (42 << 8), NULL, 0, &c), TARS_E_OK);
  expect("wait exiting child", tars_wait_child(&c, 0, &code, &handle), TARS_E_OK);
  expect("exit code", code, 42);
  expect("waited handle", (int64_t)handle, (int64_t)c.handle);

  /* An idle one: running (NOHANG is busy), suspended and resumed, killed: EXIT_KILLED. */
  tars_child_t idle;
  expect("spawn idle child", tars_spawn("spawner", 100, NULL, 0, &idle), TARS_E_OK);
  expect("try wait running child", tars_wait_child(&idle, 1, &code, &handle), TARS_E_BUSY);
  expect("suspend", tars_suspend(&idle), TARS_E_OK);
  expect("resume", tars_resume(&idle), TARS_E_OK);
  expect("kill", tars_kill(&idle), TARS_E_OK);
  code = 0;
  expect("wait killed child", tars_wait_child(&idle, 0, &code, &handle), TARS_E_OK);
  expect("killed exit code", code, TARS_EXIT_KILLED);

  /* Its handle is stale now: it names nothing, for every call. */
  expect("kill stale handle", tars_kill(&idle), TARS_E_NO_CHILD);
  expect("suspend stale handle", tars_suspend(&idle), TARS_E_NO_CHILD);
  expect("wait stale handle", tars_wait_child(&idle, 0, &code, &handle), TARS_E_NO_CHILD);
  expect("wait with no children", tars_wait_child(NULL, 0, &code, &handle), TARS_E_NO_CHILD);

  /* Slot 0 is call=echo (send only): the receive right is not ours to give; send is. */
  uint64_t more = TARS_GRANT(0, TARS_RIGHT_SEND | TARS_RIGHT_RECV, 0);
  expect("grant more rights than held", tars_spawn("spawner", 100, &more, 1, &c), TARS_E_NO_RIGHTS);
  uint64_t same = TARS_GRANT(0, TARS_RIGHT_SEND, 5);
  expect("grant the held right with a badge", tars_spawn("spawner", 100, &same, 1, &c), TARS_E_OK);
  expect("kill granted child", tars_kill(&c), TARS_E_OK);
  expect("wait granted child", tars_wait_child(NULL, 0, &code, &handle), TARS_E_OK);
  expect("granted child's handle", (int64_t)handle, (int64_t)c.handle);

  /* pong is a module, but not one spawn= allows. */
  expect("spawn outside spawn=", tars_spawn("pong", 0, NULL, 0, &c), TARS_E_NO_RIGHTS);

  /* An endpoint of our own: created in a free slot, dropped again. */
  uint64_t slot = TARS_CAP_SLOTS;
  expect("ep_create", tars_ep_create(&slot), TARS_E_OK);
  expect("ep_create slot in range", slot > 0 && slot < TARS_CAP_SLOTS, 1);
  expect("cap_drop", tars_cap_drop(slot), TARS_E_OK);

  /* A C child: this program again, as the boot=no module c-child. */
  expect("spawn c child", tars_spawn("c-child", CHILD_ARG, NULL, 0, &c), TARS_E_OK);
  code = 0;
  expect("wait any child", tars_wait_child(NULL, 0, &code, &handle), TARS_E_OK);
  expect("c child exit code", code, CHILD_CODE);
  expect("c child handle", (int64_t)handle, (int64_t)c.handle);

  if (failures) {
    printf("sdk-lifecycle c: %d failed\n", failures);
    return 1;
  }
  printf("sdk-lifecycle c: ok\n");
  return 0;
}
