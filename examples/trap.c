// trap (hostile): triggers the trap named by its first argument. Exists to test that each kind of
// fault is reported as a clean job failure.
//
// Input: ignored. Args: exactly one of
//   unreachable  __builtin_trap(): the `unreachable` instruction
//   divzero      integer division by zero (operands are volatile, so it happens at run time)
//   oob          a 4-byte load from address 0xFFFFFFF0, past the end of any wasm32 memory
//   indirect     a call through a function pointer made from a bad integer (a table index that
//                does not exist)
//   badsig       a call through a pointer to a real function of a different signature
//   exit42       exit(42): not a trap, a normal exit with status 42
// Output: nothing if the trap happens. If it somehow does not, prints "trap <name>: survived\n" to
// stdout and exits 1. Unknown or missing argument: usage on stderr, exit 2.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int (*IntFn)(int);
typedef double (*DoubleFn)(double, double);

static int Twice(int x) { return 2 * x; }

// Keeps the bad values opaque to the optimizer.
volatile int g_zero = 0;
volatile int g_one = 1;
volatile uintptr_t g_bad_address = 0xFFFFFFF0u;
volatile uintptr_t g_bad_index = 12345;
IntFn volatile g_twice = Twice;

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: trap unreachable|divzero|oob|indirect|badsig|exit42\n");
    return 2;
  }
  const char* what = argv[1];
  int result = 0;
  if (strcmp(what, "unreachable") == 0) {
    __builtin_trap();
  } else if (strcmp(what, "divzero") == 0) {
    result = g_one / g_zero;
  } else if (strcmp(what, "oob") == 0) {
    result = *(volatile int*)g_bad_address;
  } else if (strcmp(what, "indirect") == 0) {
    IntFn f = (IntFn)g_bad_index;
    result = f(1);
  } else if (strcmp(what, "badsig") == 0) {
    DoubleFn f = (DoubleFn)g_twice;
    result = (int)f(1.0, 2.0);
  } else if (strcmp(what, "exit42") == 0) {
    exit(42);
  } else {
    fprintf(stderr, "trap: unknown trap \"%s\"\n", what);
    return 2;
  }
  printf("trap %s: survived (%d)\n", what, result);
  return 1;
}
