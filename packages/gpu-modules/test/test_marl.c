/* CPU reference tests for the multi-agent simulation: determinism, occupancy, bounded rewards,
 * and learning (mean reward rises). */
#include "../reference/marl.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int passed, failed;
#define CHECK(name, cond) do { if (cond) passed++; else { failed++; fprintf(stderr, "FAIL %s\n", name); } } while (0)

static void alloc(marl_world *w, int n) {
  w->n = n;
  w->q = calloc((size_t)n * MARL_STATES * MARL_ACTIONS, 4);
  w->pos = calloc(n, 4), w->rng = calloc(n, 4), w->occ = calloc(MARL_STATES, 4), w->reward = calloc(n, 4);
}

int main(void) {
  marl_world a, b, c;
  alloc(&a, 64), alloc(&b, 64), alloc(&c, 64);
  marl_init(&a, 42), marl_init(&b, 42), marl_init(&c, 43);
  CHECK("different seeds start differently", memcmp(a.pos, c.pos, 64 * 4) != 0);
  double first = 0, last = 0;
  int bounded = 1;
  for (int i = 0; i < 1000; i++) {
    int64_t ra = marl_step_cpu(&a), rb = marl_step_cpu(&b);
    if (ra != rb) bounded = 0;
    int occ = 0;
    for (int s = 0; s < MARL_STATES; s++) occ += a.occ[s];
    if (occ != 64) bounded = 0;
    for (int k = 0; k < 64; k++) if (a.reward[k] > MARL_FOOD || a.reward[k] < -MARL_STEP_COST) bounded = 0;
    if (i < 100) first += (double)ra / 64 / 65536;
    if (i >= 900) last += (double)ra / 64 / 65536;
  }
  CHECK("same seed, same run (bit for bit)", memcmp(a.q, b.q, (size_t)64 * MARL_STATES * MARL_ACTIONS * 4) == 0 && memcmp(a.pos, b.pos, 64 * 4) == 0);
  CHECK("occupancy counts every agent, rewards bounded, runs agree", bounded);
  CHECK("agents learn: mean reward rises", last / 100 > first / 100 + 0.02);
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
