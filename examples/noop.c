// noop: does nothing and exits 0. Measures the fixed per-job cost (instantiate, start, collect).
//
// Input: ignored. Output: none.
int main(void) { return 0; }
