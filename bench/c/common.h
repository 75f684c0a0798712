/*
 * Small helpers shared by the benchmark's C programs (bench/c/).
 * Every timestamp in the benchmark is CLOCK_MONOTONIC in nanoseconds: the
 * same clock inside and outside a pid namespace, so a time read by a program
 * in the container can be subtracted from one read by a tool outside it.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static inline int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Formats a non-negative integer; returns the length written (no NUL). */
static inline int format_i64(char *buf, int64_t value) {
  char tmp[24];
  int n = 0;
  do {
    tmp[n++] = (char)('0' + value % 10);
    value /= 10;
  } while (value > 0 && n < 23);
  for (int i = 0; i < n; i++) buf[i] = tmp[n - 1 - i];
  buf[n] = '\n';
  return n + 1;
}

/* Writes `text` to `path` through a temporary file, so readers never see half of it. */
static inline void write_file_atomic(const char *path, const char *text) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    perror(tmp);
    return;
  }
  size_t len = strlen(text);
  if (write(fd, text, len) != (ssize_t)len) perror(tmp);
  close(fd);
  if (rename(tmp, path) != 0) perror(path);
}

static inline void sleep_ns(int64_t ns) {
  struct timespec ts = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
  while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
  }
}

#endif
