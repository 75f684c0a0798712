/*
 * target FIFO: the program of figures 2 and 3.
 *
 * Its SIGUSR1 and SIGUSR2 handler reads CLOCK_MONOTONIC and writes it (8
 * bytes, native int64 nanoseconds) to FIFO: the end of "signal forwarding
 * latency". After
 * installing the handler it writes one 0 as "ready", then sleeps. SIGTERM
 * keeps its default action, so the program dies at once on TERM (figure 3).
 *
 * If the init handed us SIGTERM, SIGUSR1 or SIGUSR2 ignored or blocked, we say so on
 * stderr (that would be an init bug) and reset them, so the figure still
 * measures delivery.
 */
#include "common.h"

#include <signal.h>

static int fifo = -1;

static void on_signal(int sig) {
  (void)sig;
  int64_t t = now_ns();
  ssize_t ignored = write(fifo, &t, sizeof t);
  (void)ignored;
}

static void check_inherited(int sig, const char *name) {
  struct sigaction old;
  sigset_t mask;
  sigaction(sig, NULL, &old);
  sigprocmask(SIG_BLOCK, NULL, &mask);
  if (old.sa_handler == SIG_IGN) fprintf(stderr, "target: inherited %s ignored\n", name);
  if (sigismember(&mask, sig)) fprintf(stderr, "target: inherited %s blocked\n", name);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: target FIFO\n");
    return 2;
  }
  check_inherited(SIGTERM, "SIGTERM");
  check_inherited(SIGUSR1, "SIGUSR1");
  check_inherited(SIGUSR2, "SIGUSR2");
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  signal(SIGTERM, SIG_DFL);

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &sa, NULL);
  sigaction(SIGUSR2, &sa, NULL);

  fifo = open(argv[1], O_WRONLY | O_CLOEXEC); /* blocks until the reader is there */
  if (fifo < 0) {
    perror(argv[1]);
    return 1;
  }
  int64_t ready = 0;
  if (write(fifo, &ready, sizeof ready) != sizeof ready) return 1;
  for (;;) pause();
}
