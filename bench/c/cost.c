/*
 * cost: what whole processes cost, one after another: wall time, CPU time
 * (user + system, from wait4's rusage of that child alone) and peak memory
 * (ru_maxrss: the child's largest resident set, KiB). This is what a probe or
 * a hook call charges to the container's cgroup each time it runs.
 *
 *   cost COUNT -- CMD [ARG...]
 *       prints "<wall ns> <exit> <cpu us> <maxrss KiB>" per run.
 *
 * CMD must be an absolute path. stdin is /dev/null, stdout /dev/null; stderr
 * is inherited, so a failing client says why.
 */
#include "common.h"

#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>

extern char **environ;

int main(int argc, char **argv) {
  if (argc < 4 || strcmp(argv[2], "--") != 0) {
    fprintf(stderr, "usage: cost COUNT -- CMD [ARG...]\n");
    return 2;
  }
  long count = strtol(argv[1], NULL, 10);
  char **cmd = argv + 3;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  for (long n = 0; n < count; n++) {
    pid_t pid;
    int64_t t0 = now_ns();
    int err = posix_spawn(&pid, cmd[0], &actions, NULL, cmd, environ);
    if (err != 0) {
      fprintf(stderr, "cost: %s: %s\n", cmd[0], strerror(err));
      return 1;
    }
    int status;
    struct rusage usage;
    while (wait4(pid, &status, 0, &usage) < 0) {
      if (errno != EINTR) {
        perror("cost: wait4");
        return 1;
      }
    }
    int64_t t1 = now_ns();
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    long cpu_us = usage.ru_utime.tv_sec * 1000000L + usage.ru_utime.tv_usec +
                  usage.ru_stime.tv_sec * 1000000L + usage.ru_stime.tv_usec;
    printf("%lld %d %ld %ld\n", (long long)(t1 - t0), code, cpu_us, usage.ru_maxrss);
  }
  return 0;
}
