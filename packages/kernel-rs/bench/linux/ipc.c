/* IPC round trips from a Linux-personality process (C, libtars) to the Rust pong: the
 * reference between a Rust agent and a .NET agent. Prints "ipc N calls T us" (guest µs; under
 * -icount one µs is a thousand instructions). */
#include <stdio.h>
#include "tars.h"

int main(void) {
  uint64_t in[4] = {1, 0, 0, 0}, out[4];
  const int n = 20000;
  for (int i = 0; i < 1000; i++) tars_call(0, in, out);
  uint64_t t0 = tars_time_us();
  for (int i = 0; i < n; i++) {
    in[1] = (uint64_t)i;
    if (tars_call(0, in, out) != 0 || out[1] != (uint64_t)i + 1) {
      printf("ipc failed at %d\n", i);
      return 1;
    }
  }
  uint64_t t1 = tars_time_us();
  printf("ipc %d calls %llu us\n", n, (unsigned long long)(t1 - t0));
  return 0;
}
