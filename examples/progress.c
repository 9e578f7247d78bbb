// progress: a long job that reports through the `mesh` host import module.
//
// Input: ignored. Args: optional decimal ITERS, work per step (default 1000000).
// Host calls, for step i = 1..10:
//   mesh.emit_partial("partial <i>\n")     each step, after its work
//   mesh.progress(10 * i, "step <i>")      each step
//   mesh.checkpoint(&state, sizeof state)  after steps 5 and 10; state is State below (24 bytes,
//                                          little-endian: uint64 sum, uint64 lcg, uint32 step,
//                                          uint32 iters), enough to resume after `step`
//   mesh.restore(&state, sizeof state)    once, at the start: when the run resumes from a
//                                          checkpoint (another executor made it, or this node
//                                          before a restart), the loop goes on after its step
// Output: "done <sum>\n" on stdout, sum as unsigned decimal: the same whether the run started
// from the beginning or resumed from a checkpoint.
// The work is an LCG whose high bits are summed, so the result is fixed for a given ITERS.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

// Imports from the host module "mesh"; pointers are offsets into this module's linear memory.
#define MESH_IMPORT(name) __attribute__((import_module("mesh"), import_name(name)))
MESH_IMPORT("progress") void mesh_progress(int percent, const char* msg, int len);
MESH_IMPORT("checkpoint") void mesh_checkpoint(const void* p, int len);
MESH_IMPORT("emit_partial") void mesh_emit_partial(const void* p, int len);
// The resume convention: copies up to `cap` bytes of the checkpoint this run resumes from and
// returns its length, or returns -1 when the run starts from the beginning.
MESH_IMPORT("restore") int mesh_restore(void* p, int cap);

typedef struct {
  uint64_t sum;
  uint64_t lcg;
  uint32_t step;
  uint32_t iters;
} State;

int main(int argc, char** argv) {
  State state = {0, 1, 0, 1000000};
  if (argc > 1) state.iters = (uint32_t)strtoul(argv[1], NULL, 10);
  State saved;
  if (mesh_restore(&saved, (int)sizeof saved) == (int)sizeof saved && saved.step >= 1 &&
      saved.step <= 10 && saved.iters == state.iters) {
    state = saved;  // resume after the checkpointed step
    ++state.step;
  } else {
    state.step = 1;
  }
  for (; state.step <= 10; ++state.step) {
    for (uint32_t j = 0; j < state.iters; ++j) {
      state.lcg = state.lcg * 6364136223846793005ULL + 1442695040888963407ULL;
      state.sum += state.lcg >> 33;
    }
    char line[32];
    int len = snprintf(line, sizeof line, "partial %u\n", (unsigned)state.step);
    mesh_emit_partial(line, len);
    len = snprintf(line, sizeof line, "step %u", (unsigned)state.step);
    mesh_progress(10 * (int)state.step, line, len);
    if (state.step % 5 == 0) mesh_checkpoint(&state, (int)sizeof state);
  }
  printf("done %llu\n", (unsigned long long)state.sum);
  return 0;
}
