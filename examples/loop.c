// loop (hostile): spins forever without calling anything. Exists to test that the sandbox stops a
// job by fuel or wall time, not by waiting for it to make a call.
//
// Input: ignored. Output: none; never returns.
// The store to a volatile global is an observable side effect, so the compiler must keep the loop.
#include <stdint.h>

volatile uint32_t g_sink;

int main(void) {
  uint32_t x = 1;
  for (;;) {
    x = x * 3 + 1;
    g_sink = x;
  }
}
