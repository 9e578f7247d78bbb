// hello: prints a greeting.
//
// Input: ignored. Output: "hello, mesh\n" on stdout. Exit code 0.
#include <stdio.h>

int main(void) {
  fputs("hello, mesh\n", stdout);
  return 0;
}
