#include "marl.h"
#include <string.h>

void marl_init(marl_world *w, uint32_t seed) {
  memset(w->q, 0, sizeof(int32_t) * (size_t)w->n * MARL_STATES * MARL_ACTIONS);
  for (int32_t i = 0; i < w->n; i++) {
    uint32_t r = marl_xorshift(seed ^ (0x9E3779B9u * (uint32_t)(i + 1)));
    if (r == 0) r = 1;
    w->rng[i] = r;
    w->pos[i] = (int32_t)(r % MARL_STATES);
    w->reward[i] = 0;
  }
}

int64_t marl_step_cpu(marl_world *w) {
  memset(w->occ, 0, sizeof(int32_t) * MARL_STATES);
  for (int32_t i = 0; i < w->n; i++) w->occ[w->pos[i]]++;
  int64_t total = 0;
  for (int32_t i = 0; i < w->n; i++) {
    int32_t r = marl_agent_step(w->q + (size_t)i * MARL_STATES * MARL_ACTIONS, &w->pos[i], &w->rng[i], w->occ);
    w->reward[i] = r;
    total += r;
  }
  return total;
}

int64_t marl_env_step_cpu(marl_world *w, const int32_t *actions) {
  memset(w->occ, 0, sizeof(int32_t) * MARL_STATES);
  for (int32_t i = 0; i < w->n; i++) w->occ[w->pos[i]]++;
  int64_t total = 0;
  for (int32_t i = 0; i < w->n; i++) total += w->reward[i] = marl_env_agent(&w->pos[i], actions[i], w->occ);
  return total;
}
