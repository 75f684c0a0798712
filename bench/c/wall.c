/*
 * wall: wall-clock time of whole processes, from just before spawning to
 * just after reaping, with as little of our own overhead as possible
 * (posix_spawn uses vfork semantics; nothing but the child runs between the
 * two clock reads).
 *
 *   wall [--stdout FILE] COUNT -- CMD [ARG...]
 *       runs CMD COUNT times, one after another; prints "<ns> <exit>" per run.
 *   wall --parallel [--stdout FILE] COUNT -- CMD [ARG...]
 *       starts COUNT copies of CMD at once and waits for all; prints
 *       "<ns from first spawn to last exit> <failures>" and then one
 *       "exit <code>" line per copy that failed.
 *
 * CMD must be an absolute path. stdin is /dev/null; stdout goes to FILE
 * (default /dev/null); stderr is inherited, so a failing client says why.
 */
#include "common.h"

#include <spawn.h>
#include <sys/wait.h>

extern char **environ;

static int exit_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 255;
}

int main(int argc, char **argv) {
  int parallel = 0;
  const char *out = "/dev/null";
  int i = 1;
  for (; i < argc && argv[i][0] == '-' && strcmp(argv[i], "--") != 0; i++) {
    if (strcmp(argv[i], "--parallel") == 0) parallel = 1;
    else if (strcmp(argv[i], "--stdout") == 0 && i + 1 < argc) out = argv[++i];
    else {
      fprintf(stderr, "wall: unknown option %s\n", argv[i]);
      return 2;
    }
  }
  if (i + 2 >= argc || strcmp(argv[i + 1], "--") != 0) {
    fprintf(stderr, "usage: wall [--parallel] [--stdout FILE] COUNT -- CMD [ARG...]\n");
    return 2;
  }
  long count = strtol(argv[i], NULL, 10);
  char **cmd = argv + i + 2;

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out, O_WRONLY | O_CREAT | O_APPEND, 0644);

  if (!parallel) {
    for (long n = 0; n < count; n++) {
      int status;
      pid_t pid;
      int64_t t0 = now_ns();
      int err = posix_spawn(&pid, cmd[0], &actions, NULL, cmd, environ);
      if (err != 0) {
        fprintf(stderr, "wall: cannot spawn %s: %s\n", cmd[0], strerror(err));
        return 127;
      }
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      int64_t t1 = now_ns();
      printf("%lld %d\n", (long long)(t1 - t0), exit_code(status));
    }
    return 0;
  }

  pid_t *pids = calloc((size_t)count, sizeof *pids);
  int *codes = calloc((size_t)count, sizeof *codes);
  int64_t t0 = now_ns();
  for (long n = 0; n < count; n++) {
    int err = posix_spawn(&pids[n], cmd[0], &actions, NULL, cmd, environ);
    if (err != 0) {
      pids[n] = -1;
      codes[n] = 127;
    }
  }
  long failures = 0;
  for (long n = 0; n < count; n++) {
    if (pids[n] < 0) continue;
    int status;
    while (waitpid(pids[n], &status, 0) < 0 && errno == EINTR) {
    }
    codes[n] = exit_code(status);
  }
  int64_t t1 = now_ns();
  for (long n = 0; n < count; n++) failures += codes[n] != 0;
  printf("%lld %ld\n", (long long)(t1 - t0), failures);
  for (long n = 0; n < count; n++) {
    if (codes[n] != 0) printf("exit %d\n", codes[n]);
  }
  return 0;
}
