/*
 * emit N STAMPFILE: the hook handler of figure 8, like `seq 1 N`.
 *
 * Writes CLOCK_MONOTONIC (ns) at its start to STAMPFILE, then the lines
 * 1..N to stdout in 64 KiB writes, and exits 0.
 */
#include "common.h"

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: emit N STAMPFILE\n");
    return 2;
  }
  char stamp[32];
  int64_t start = now_ns();
  int len = format_i64(stamp, start);
  stamp[len] = '\0';
  write_file_atomic(argv[2], stamp);

  long count = strtol(argv[1], NULL, 10);
  static char buf[65536];
  size_t used = 0;
  for (long i = 1; i <= count; i++) {
    if (used > sizeof buf - 32) {
      if (write(1, buf, used) != (ssize_t)used) return 1;
      used = 0;
    }
    used += (size_t)format_i64(buf + used, i);
  }
  if (used > 0 && write(1, buf, used) != (ssize_t)used) return 1;
  return 0;
}
