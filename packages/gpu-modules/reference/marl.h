/* Multi-agent reinforcement learning on a shared grid world: independent Q-learning, all in
 * integer fixed point so the CPU reference and the CUDA kernel agree bit for bit.
 *
 * World: a GRID x GRID torus; food on cells where (x * 7 + y * 3) % 11 == 0. Each agent has its
 * own Q table (GRID*GRID states x 4 actions, Q16.16). Per step: epsilon-greedy action (1/16),
 * move, reward = FOOD / (agents already on the target cell + 1) on food, else -STEP_COST; then
 * Q[s,a] += (r + gamma * max Q[s',.] - Q[s,a]) / 8 with gamma = 15/16. Crowding makes the agents
 * interact through the shared environment. */
#ifndef TARS_MARL_H
#define TARS_MARL_H
#include <stdint.h>

#define MARL_GRID 16
#define MARL_STATES (MARL_GRID * MARL_GRID)
#define MARL_ACTIONS 4
#define MARL_FOOD (1 << 16)
#define MARL_STEP_COST (1 << 10)

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  int32_t n;
  int32_t *q;       /* n * MARL_STATES * MARL_ACTIONS */
  int32_t *pos;     /* n */
  uint32_t *rng;    /* n */
  int32_t *occ;     /* MARL_STATES */
  int32_t *reward;  /* n, last step */
} marl_world;

/* Deterministic initial state for a seed. */
void marl_init(marl_world *w, uint32_t seed);
/* One step for every agent; returns the summed reward (Q16.16 units). */
int64_t marl_step_cpu(marl_world *w);

#ifdef __cplusplus
}
#endif

/* Shared by the CPU reference and the CUDA kernel. */
#ifdef __CUDACC__
#define MARL_FN __host__ __device__ static inline
#else
#define MARL_FN static inline
#endif

MARL_FN uint32_t marl_xorshift(uint32_t x) {
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return x;
}

MARL_FN int marl_is_food(int cell) {
  int x = cell % MARL_GRID, y = cell / MARL_GRID;
  return (x * 7 + y * 3) % 11 == 0;
}

MARL_FN int marl_move(int cell, int a) {
  int x = cell % MARL_GRID, y = cell / MARL_GRID;
  if (a == 0) x = (x + 1) % MARL_GRID;
  else if (a == 1) x = (x + MARL_GRID - 1) % MARL_GRID;
  else if (a == 2) y = (y + 1) % MARL_GRID;
  else y = (y + MARL_GRID - 1) % MARL_GRID;
  return y * MARL_GRID + x;
}

/* The per-agent update. `occ` is the occupancy before this step (read only). */
MARL_FN int32_t marl_agent_step(int32_t *q, int32_t *pos, uint32_t *rng, const int32_t *occ) {
  int s = *pos;
  uint32_t r = marl_xorshift(*rng);
  *rng = r;
  int32_t *qs = q + s * MARL_ACTIONS;
  int a;
  if ((r & 15u) == 0) {
    a = (int)((r >> 4) & 3u);
  } else {
    a = 0;
    for (int k = 1; k < MARL_ACTIONS; k++) if (qs[k] > qs[a]) a = k;
  }
  int s2 = marl_move(s, a);
  int32_t reward = marl_is_food(s2) ? MARL_FOOD / (occ[s2] + 1) : -MARL_STEP_COST;
  int32_t *qn = q + s2 * MARL_ACTIONS;
  int32_t best = qn[0];
  for (int k = 1; k < MARL_ACTIONS; k++) if (qn[k] > best) best = qn[k];
  int64_t target = (int64_t)reward + (((int64_t)best * 15) >> 4);
  qs[a] += (int32_t)((target - qs[a]) >> 3);
  *pos = s2;
  return reward;
}

#endif
