/* A statically linked program: `tmc run` must refuse it (LD_PRELOAD cannot reach it). */
#include <stdio.h>
int main(void) {
  puts("static program ran");
  return 0;
}
