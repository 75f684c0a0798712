/*
 * sigbench: signals an init from outside its pid namespace and times it.
 *
 *   sigbench signal SIGNUM PIDFILE FIFO COUNT WARMUP GAP_US SETTLE_MS
 *       Waits for `target` to say ready on FIFO, waits SETTLE_MS more (the
 *       init finishes its own start-up), then WARMUP+COUNT times: read the
 *       clock, kill(init, SIGNUM), wait for the timestamp the program's
 *       handler writes to FIFO; latency = handler time - send time. The next
 *       signal goes GAP_US after the previous one arrived. Prints one latency
 *       in ns per line (warm-up not printed), then "lost N": signals whose
 *       handler did not run within 1 s. After 5 losses in a row it gives up
 *       (the init does not forward that signal at all) and prints
 *       "gave up after N".
 *   sigbench term PIDFILE FIFO SETTLE_MS
 *       Waits for ready and SETTLE_MS, then reads the clock, kill(init,
 *       SIGTERM), and waits on a pidfd until the init has exited (for PID 1
 *       of a namespace: until it and everything in the namespace are gone).
 *       Prints the latency in ns.
 */
#include "common.h"

#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>

static pid_t read_pid(const char *pidfile) {
  for (int tries = 0; tries < 1000; tries++) {
    FILE *f = fopen(pidfile, "r");
    if (f != NULL) {
      int pid = 0;
      int ok = fscanf(f, "%d", &pid);
      fclose(f);
      if (ok == 1 && pid > 0) return pid;
    }
    sleep_ns(5000000);
  }
  fprintf(stderr, "sigbench: no pid in %s\n", pidfile);
  exit(1);
}

/* Reads one int64 from the FIFO, waiting at most timeout_ms. 0 on success. */
static int read_stamp(int fd, int64_t *value, int timeout_ms) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  int r;
  while ((r = poll(&p, 1, timeout_ms)) < 0 && errno == EINTR) {
  }
  if (r <= 0) return -1;
  if (!(p.revents & POLLIN)) return -1; /* POLLHUP: the program is gone */
  ssize_t n = read(fd, value, sizeof *value);
  return n == sizeof *value ? 0 : -1;
}

static int open_and_wait_ready(const char *fifo) {
  int fd = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    perror(fifo);
    exit(1);
  }
  int64_t ready;
  if (read_stamp(fd, &ready, 30000) != 0) {
    fprintf(stderr, "sigbench: the program never said ready on %s\n", fifo);
    exit(1);
  }
  return fd;
}

int main(int argc, char **argv) {
  alarm(600); /* never hang the benchmark */
  if (argc >= 9 && strcmp(argv[1], "signal") == 0) {
    int signum = (int)strtol(argv[2], NULL, 10);
    int fd = open_and_wait_ready(argv[4]);
    pid_t pid = read_pid(argv[3]);
    long count = strtol(argv[5], NULL, 10), warmup = strtol(argv[6], NULL, 10);
    long gap_us = strtol(argv[7], NULL, 10), settle_ms = strtol(argv[8], NULL, 10);
    sleep_ns(settle_ms * 1000000);
    long lost = 0, in_a_row = 0;
    for (long i = 0; i < warmup + count; i++) {
      int64_t t0 = now_ns(), t1 = 0;
      if (kill(pid, signum) != 0) {
        perror("kill");
        return 1;
      }
      /* A stamp older than t0 belongs to an earlier, late signal: skip it. */
      int ok;
      while ((ok = read_stamp(fd, &t1, 1000)) == 0 && t1 < t0) {
      }
      if (ok != 0) {
        lost++;
        if (++in_a_row >= 5) {
          printf("gave up after %ld\n", i + 1);
          break;
        }
        continue;
      }
      in_a_row = 0;
      if (i >= warmup) printf("%lld\n", (long long)(t1 - t0));
      if (gap_us > 0) sleep_ns(gap_us * 1000);
    }
    printf("lost %ld\n", lost);
    return 0;
  }
  if (argc >= 5 && strcmp(argv[1], "term") == 0) {
    int fd = open_and_wait_ready(argv[3]);
    pid_t pid = read_pid(argv[2]);
    sleep_ns(strtol(argv[4], NULL, 10) * 1000000);
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pidfd < 0) {
      perror("pidfd_open");
      return 1;
    }
    int64_t t0 = now_ns();
    if (kill(pid, SIGTERM) != 0) {
      perror("kill");
      return 1;
    }
    struct pollfd p = {.fd = pidfd, .events = POLLIN};
    int r;
    while ((r = poll(&p, 1, 60000)) < 0 && errno == EINTR) {
    }
    int64_t t1 = now_ns();
    if (r <= 0) {
      fprintf(stderr, "sigbench: the init did not exit within 60 s\n");
      return 1;
    }
    printf("%lld\n", (long long)(t1 - t0));
    close(fd);
    return 0;
  }
  fprintf(stderr,
          "usage: sigbench signal SIGNUM PIDFILE FIFO COUNT WARMUP GAP_US SETTLE_MS\n"
          "       sigbench term PIDFILE FIFO SETTLE_MS\n");
  return 2;
}
