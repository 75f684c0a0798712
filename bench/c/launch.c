/*
 * launch: starts an init the way a container runtime does, and records the
 * moment right before it is exec'd.
 *
 *   launch [--pidns] [--stamp FILE] [--pidfile FILE] -- INIT [ARG...]
 *
 * --pidns    the init becomes PID 1 of a new pid namespace with its own
 *            /proc, exactly what `unshare --pid --fork --mount-proc INIT`
 *            does: unshare(CLONE_NEWPID|CLONE_NEWNS), fork, make mounts
 *            private, mount a new proc on /proc, exec. This process stays
 *            outside as the parent, waits, and exits with the init's status.
 *            Without it, launch execs the init in place (a plain child of
 *            whoever started launch).
 * --stamp    CLOCK_MONOTONIC (ns) read immediately before execve(INIT) is
 *            written to FILE: the start of "start to program" (figure 1).
 * --pidfile  the init's pid as seen from outside the namespace, for the tools
 *            that signal it or read its /proc/PID/status.
 *
 * INIT must be an absolute path (no PATH search between the stamp and exec).
 */
#include "common.h"

#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>

static void die(const char *what) {
  fprintf(stderr, "launch: %s: %s\n", what, strerror(errno));
  _exit(125);
}

static void write_pid(const char *pidfile, pid_t pid) {
  if (pidfile == NULL) return;
  char text[32];
  snprintf(text, sizeof text, "%d\n", (int)pid);
  write_file_atomic(pidfile, text);
}

/* Reads the clock, writes it to the stamp file, and execs: nothing else in between. */
static void exec_init(char **argv, const char *stamp) {
  int fd = -1;
  if (stamp != NULL) {
    fd = open(stamp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) die(stamp);
  }
  char buf[32];
  int64_t t0 = now_ns();
  if (fd >= 0 && write(fd, buf, (size_t)format_i64(buf, t0)) < 0) die("write stamp");
  execv(argv[0], argv);
  fprintf(stderr, "launch: cannot exec %s: %s\n", argv[0], strerror(errno));
  _exit(127);
}

int main(int argc, char **argv) {
  int pidns = 0;
  const char *stamp = NULL, *pidfile = NULL;
  int i = 1;
  for (; i < argc; i++) {
    if (strcmp(argv[i], "--pidns") == 0) pidns = 1;
    else if (strcmp(argv[i], "--stamp") == 0 && i + 1 < argc) stamp = argv[++i];
    else if (strcmp(argv[i], "--pidfile") == 0 && i + 1 < argc) pidfile = argv[++i];
    else if (strcmp(argv[i], "--") == 0) {
      i++;
      break;
    } else {
      fprintf(stderr, "launch: unknown option %s\n", argv[i]);
      return 2;
    }
  }
  if (i >= argc) {
    fprintf(stderr, "usage: launch [--pidns] [--stamp FILE] [--pidfile FILE] -- INIT [ARG...]\n");
    return 2;
  }
  char **init = argv + i;

  if (!pidns) {
    write_pid(pidfile, getpid());
    exec_init(init, stamp);
  }

  if (unshare(CLONE_NEWPID | CLONE_NEWNS) != 0) die("unshare(CLONE_NEWPID|CLONE_NEWNS)");
  pid_t child = fork();
  if (child < 0) die("fork");
  if (child == 0) {
    /* PID 1 of the new namespace: a private mount tree and our own /proc. */
    if (mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) die("make / private");
    if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0) die("mount /proc");
    exec_init(init, stamp);
  }
  write_pid(pidfile, child);

  /* The benchmark signals the init directly; we only wait and pass its status on. */
  signal(SIGINT, SIG_IGN);
  signal(SIGTERM, SIG_IGN);
  int status;
  while (waitpid(child, &status, 0) < 0) {
    if (errno != EINTR) die("waitpid");
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}
