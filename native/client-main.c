// A stand-alone executable around the C client (dist/hookinit-client), for
// tests and benchmarks: `hookinit-client hook preStop`, `... status`,
// `... ready`. The shipped entry executable calls hookinit_client_main the
// same way for these three commands.
#include <stdio.h>
#include <string.h>

#include "client.h"

int main(int argc, char **argv) {
  if (argc >= 2 && (strcmp(argv[1], "hook") == 0 || strcmp(argv[1], "status") == 0 ||
                    strcmp(argv[1], "ready") == 0))
    return hookinit_client_main(argc, argv);
  fputs("usage: hookinit-client hook postStart|preStop | status | ready\n", stderr);
  return 2;
}
