/* Multi-agent reinforcement learning on a shared grid world: independent Q-learning, all in
 * integer fixed point so the CPU reference and the CUDA kernel agree bit for bit.
 *
 * World: a GRID x GRID torus; food on cells where (x * 7 + y * 3) % 11 == 0. Each agent has its
 * own Q table (GRID*GRID states x 5 actions: four moves and stay, Q16.16). Per step:
 * epsilon-greedy action (1/16; ties among the best go to a random one of them), move, reward =
 * FOOD / (agents already on the target cell + 1) on food, else -STEP_COST; then
 * Q[s,a] += (r + gamma * max Q[s',.] - Q[s,a]) / 8 with gamma = 15/16. Crowding makes the agents
 * interact through the shared environment.
 *
 * Why "stay" and the random tie-break: with four moves only, no two food cells being adjacent,
 * an agent could reach food at most every other step, and the best policy was a two-step cycle
 * food <-> neighbour. Ties broken towards action 0 sent every agent the same way at once, and
 * the 16x16 torus is bipartite (every move changes the cell's colour), so the agents' phases
 * never evened out: the mean reward was a saw-tooth (even iterations up, odd down) that came from
 * the world's rules, not from learning. */
#ifndef TARS_MARL_H
#define TARS_MARL_H
#include <stdint.h>

#define MARL_GRID 16
#define MARL_STATES (MARL_GRID * MARL_GRID)
#define MARL_ACTIONS 5
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
/* The environment alone, the actions chosen elsewhere (by sandboxed policies: `tarscli os
 * hyperlight run-simulation`): moves every agent by actions[i] and fills w->reward; returns the
 * summed reward. The Q tables are not used. */
int64_t marl_env_step_cpu(marl_world *w, const int32_t *actions);

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
  else if (a == 3) y = (y + MARL_GRID - 1) % MARL_GRID;
  /* a == 4: stay */
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
    a = (int)((r >> 4) % MARL_ACTIONS);
  } else {
    int start = (int)((r >> 8) % MARL_ACTIONS);
    a = start;
    for (int j = 1; j < MARL_ACTIONS; j++) {
      int k = (start + j) % MARL_ACTIONS;
      if (qs[k] > qs[a]) a = k;
    }
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

/* Move one agent by `action` (0..4; any other value stays) and reward it as marl_agent_step does.
 * `occ` is the occupancy before this step (read only). */
MARL_FN int32_t marl_env_agent(int32_t *pos, int32_t action, const int32_t *occ) {
  int s2 = marl_move(*pos, action >= 0 && action < MARL_ACTIONS ? action : 4);
  *pos = s2;
  return marl_is_food(s2) ? MARL_FOOD / (occ[s2] + 1) : -MARL_STEP_COST;
}

#endif
