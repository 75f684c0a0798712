/*
 * hookinit's native helper: the few system calls a PID 1 needs that Node
 * does not expose. Exported functions (src/native/helper.ts types them):
 *
 * Starting the program
 *   spawn()               fork/exec the supervised program ourselves, as tini
 *                         does, so that we can put it in its own session or
 *                         process group, hand it the terminal, and reset every
 *                         signal it inherits.
 *   setSubreaper()        prctl(PR_SET_CHILD_SUBREAPER) when we are not PID 1.
 * Reaping
 *   startReaper()         a thread that blocks in waitid(P_ALL, WNOWAIT) and
 *                         reaps each zombie as the kernel reports it; the
 *                         program's exit comes back through a thread-safe
 *                         function.
 *   setOwned()            libuv's children (hook handlers): never reaped here.
 *                         libuv waits only for the pids it spawned; reaping one
 *                         would lose its exit event.
 *   holdReaper(), releaseReaper()
 *                         around a libuv spawn, so a child that exits at once
 *                         is still libuv's.
 *   takeReapedOrphans()   how many orphans the thread reaped since last asked.
 *   reap()                the same reaping from the event loop, when the
 *                         thread could not start.
 * Signals and the terminal
 *   guardFaultSignals()   a real fault in hookinit crashes it instead of
 *                         looping in libuv's handler; a SIGPIPE/SIGXFSZ from our
 *                         own write is dropped.
 *   unblockSignals()      on the main thread, once our listeners exist.
 *   ignoreTerminalStops() SIG_IGN for SIGTTIN and SIGTTOU.
 *   isatty()
 * The control socket
 *   connectUnix()         a blocking connect(2), for the client.
 *   peerCredentials()     SO_PEERCRED of a connected unix socket.
 * Memory
 *   trimMemory()          malloc_trim(0) after start-up.
 * Tests
 *   failNextSpawnReport() the next spawn() fails after its fork, as an N-API
 *                         failure there would (see Spawn).
 *
 * Every function returns quickly: nothing blocks the event loop longer than
 * a fork or a pass over our children. The one thing that blocks is the
 * reaper thread, in waitid(), off the event loop.
 */
#include <node_api.h>

#include <dirent.h>
#include <pthread.h>
#include <stdbool.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

/*
 * glibc 2.34 moved pthread_create into libc under a new symbol version; bind
 * to the old one, which every glibc since 2.2.5 provides (from libpthread,
 * which Node links), so the helper keeps Node's own floor of glibc 2.28.
 */
#if defined(__x86_64__)
__asm__(".symver pthread_create,pthread_create@GLIBC_2.2.5");
#elif defined(__aarch64__)
/* aarch64's first glibc (2.17) is its baseline. */
__asm__(".symver pthread_create,pthread_create@GLIBC_2.17");
#endif

#define CHECK(call)                                                            \
  do {                                                                         \
    if ((call) != napi_ok) {                                                   \
      napi_throw_error(env, NULL, "hookinit native: N-API call failed: " #call); \
      return NULL;                                                             \
    }                                                                          \
  } while (0)

static napi_value throw_errno(napi_env env, const char *syscall, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", syscall, strerror(err));
  napi_value error, code, message, errno_value;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, NULL, message, &error);
  napi_create_int32(env, err, &errno_value);
  napi_set_named_property(env, error, "errno", errno_value);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &code);
  napi_set_named_property(env, error, "syscall", code);
  napi_throw(env, error);
  return NULL;
}

/* The JS value `true`, what the helpers that only succeed or throw return. */
static napi_value js_true(napi_env env) {
  napi_value value = NULL;
  napi_get_boolean(env, true, &value);
  return value;
}

/* Copies a JS string into a fresh malloc'd C string (NULL on failure). */
static char *dup_string(napi_env env, napi_value value) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, value, NULL, 0, &len) != napi_ok) return NULL;
  char *buf = malloc(len + 1);
  if (buf == NULL) return NULL;
  if (napi_get_value_string_utf8(env, value, buf, len + 1, &len) != napi_ok) {
    free(buf);
    return NULL;
  }
  return buf;
}

/* Copies a JS string array into a NULL-terminated char* vector. */
static char **dup_string_array(napi_env env, napi_value array) {
  uint32_t n = 0;
  if (napi_get_array_length(env, array, &n) != napi_ok) return NULL;
  char **vec = calloc(n + 1, sizeof(char *));
  if (vec == NULL) return NULL;
  for (uint32_t i = 0; i < n; i++) {
    napi_value item;
    if (napi_get_element(env, array, i, &item) != napi_ok ||
        (vec[i] = dup_string(env, item)) == NULL) {
      for (uint32_t j = 0; j < i; j++) free(vec[j]);
      free(vec);
      return NULL;
    }
  }
  return vec;
}

static void free_string_array(char **vec) {
  if (vec == NULL) return;
  for (char **p = vec; *p != NULL; p++) free(*p);
  free(vec);
}

enum spawn_mode { MODE_SESSION = 0, MODE_FOREGROUND_GROUP = 1 };

/*
 * Runs in the forked child: only async-signal-safe calls until execve.
 * On failure it reports errno through the close-on-exec pipe and exits 127.
 */
static void child_exec(const char *file, char **argv, char **envp,
                       const char *cwd, int mode, int report_fd) {
  /* Node and libuv installed handlers and ignore SIGPIPE; execve keeps
   * ignored signals ignored, so reset every disposition by hand (a program
   * that inherits SIGPIPE=SIG_IGN misbehaves on closed pipes). */
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  for (int sig = 1; sig < NSIG; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    sigaction(sig, &dfl, NULL);
  }

  /* Node marks stdin, stdout and stderr close-on-exec; libuv's own spawn
   * clears that when it dup2()s them into place. We inherit them as they
   * are, so clear it here or the program starts with no stdio at all. */
  for (int fd = 0; fd <= 2; fd++) {
    int flags = fcntl(fd, F_GETFD);
    if (flags != -1 && (flags & FD_CLOEXEC)) fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC);
  }

  int step_errno = 0;
  const char *step = "setsid";
  if (mode == MODE_FOREGROUND_GROUP) {
    /* tini's way on a terminal: a process group of its own in our session,
     * made the terminal's foreground group so that it reads the terminal and
     * gets ^C/^Z. SIGTTOU is still blocked here (the parent blocked every
     * signal before fork), so tcsetpgrp from a background group cannot stop
     * us. */
    step = "setpgid";
    if (setpgid(0, 0) == -1) step_errno = errno;
    if (step_errno == 0 && tcsetpgrp(STDIN_FILENO, getpgrp()) == -1 &&
        errno != ENOTTY && errno != ENXIO) {
      step = "tcsetpgrp";
      step_errno = errno;
    }
  } else if (setsid() == -1) {
    step_errno = errno;
  }

  if (step_errno == 0 && cwd != NULL && chdir(cwd) == -1) {
    step = "chdir";
    step_errno = errno;
  }

  if (step_errno == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execve(file, argv, envp);
    step = "execve";
    step_errno = errno;
  }

  /* Report "<errno> <step>" to the parent. */
  char msg[64];
  int len = snprintf(msg, sizeof msg, "%d %s", step_errno, step);
  if (len > 0) {
    ssize_t ignored = write(report_fd, msg, (size_t)len);
    (void)ignored;
  }
  _exit(127);
}

/* child_exec's arguments, for a child started by clone(). */
typedef struct {
  const char *file;
  char **argv;
  char **envp;
  const char *cwd;
  int mode;
  int report_fd;
} child_args;

static int child_main(void *arg) {
  child_args *a = arg;
  child_exec(a->file, a->argv, a->envp, a->cwd, a->mode, a->report_fd);
  return 127;
}

/*
 * Starts child_exec in a child that shares our memory until it execs
 * (CLONE_VM | CLONE_VFORK, as glibc's posix_spawn does): no page table to
 * copy and no copy-on-write faults in the runtime's heap afterwards, which a
 * fork() of a JavaScript runtime pays for on the way to the program's start.
 * The child has a stack of its own and its own signal dispositions (no
 * CLONE_SIGHAND), so resetting them does not touch ours; this thread waits
 * until the child has exec'd or exited. Falls back to fork() if clone fails.
 */
static pid_t spawn_child(child_args *args) {
  size_t size = 256 * 1024;
  char *stack = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack != MAP_FAILED) {
    pid_t pid = clone(child_main, stack + size, CLONE_VM | CLONE_VFORK | SIGCHLD, args);
    int saved = errno;
    munmap(stack, size);
    if (pid != -1) return pid;
    errno = saved;
  }
  pid_t pid = fork();
  if (pid == 0) child_main(args);
  return pid;
}

/* Set by failNextSpawnReport() (tests only): the next spawn's report fails. */
static bool fail_next_spawn_report = false;

/*
 * What spawn() returns, built once the child exists. False (with an
 * exception pending) when an N-API call failed: the caller must then not
 * lose the child.
 */
static bool spawn_report(napi_env env, pid_t pid, ssize_t got, const char *msg,
                         napi_value *result) {
  if (fail_next_spawn_report) {
    fail_next_spawn_report = false;
    napi_throw_error(env, NULL, "hookinit native: N-API call failed: (injected by a test)");
    return false;
  }
#define REPORT_CHECK(call)                                                     \
  do {                                                                         \
    if ((call) != napi_ok) {                                                   \
      napi_throw_error(env, NULL, "hookinit native: N-API call failed: " #call); \
      return false;                                                            \
    }                                                                          \
  } while (0)
  napi_value pid_value;
  REPORT_CHECK(napi_create_object(env, result));
  if (got > 0) {
    int child_errno = 0;
    char syscall[32] = "execve";
    sscanf(msg, "%d %31s", &child_errno, syscall);
    napi_value errno_value, syscall_value;
    REPORT_CHECK(napi_create_int32(env, 0, &pid_value));
    REPORT_CHECK(napi_create_int32(env, child_errno, &errno_value));
    REPORT_CHECK(napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &syscall_value));
    REPORT_CHECK(napi_set_named_property(env, *result, "errno", errno_value));
    REPORT_CHECK(napi_set_named_property(env, *result, "syscall", syscall_value));
  } else {
    REPORT_CHECK(napi_create_int32(env, pid, &pid_value));
  }
  REPORT_CHECK(napi_set_named_property(env, *result, "pid", pid_value));
  return true;
#undef REPORT_CHECK
}

/*
 * spawn(file, argv, envp, cwd | null, foregroundGroup: boolean)
 *   -> { pid } on success
 *   -> { pid: 0, errno, syscall } when the child could not exec (it is reaped)
 * Throws when fork itself fails, or when the result cannot be built: then a
 * child that did exec is killed and reaped, never left running unsupervised
 * with a pid nobody knows. Every path after the copies goes through `out`.
 */
static napi_value Spawn(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value args[5];
  CHECK(napi_get_cb_info(env, info, &argc, args, NULL, NULL));
  if (argc < 5) {
    napi_throw_type_error(env, NULL, "spawn(file, argv, envp, cwd, foregroundGroup)");
    return NULL;
  }

  napi_valuetype cwd_type;
  CHECK(napi_typeof(env, args[3], &cwd_type));
  bool foreground = false;
  CHECK(napi_get_value_bool(env, args[4], &foreground));

  char *file = dup_string(env, args[0]);
  char **argv = dup_string_array(env, args[1]);
  char **envp = dup_string_array(env, args[2]);
  char *cwd = cwd_type == napi_string ? dup_string(env, args[3]) : NULL;
  napi_value result = NULL;

  int report[2] = {-1, -1};
  if (file == NULL || argv == NULL || envp == NULL ||
      (cwd_type == napi_string && cwd == NULL)) {
    napi_throw_error(env, NULL, "hookinit native: out of memory copying arguments");
    goto out;
  }
  if (pipe2(report, O_CLOEXEC) == -1) {
    throw_errno(env, "pipe2", errno);
    goto out;
  }

  /* (sigprocmask, not pthread_sigmask: on Linux both act on the calling
   * thread, and pthread_sigmask would tie the helper to glibc 2.32.)
   * Block every signal across fork, as libuv's uv_spawn does: a signal that
   * lands in the child before its handlers are reset would run libuv's
   * handler there and write into the parent's signal pipe. */
  sigset_t all, old;
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, &old);
  /* The read end is close-on-exec: the child's exec closes its copy. */
  child_args child = {file, argv, envp, cwd, foreground ? MODE_FOREGROUND_GROUP : MODE_SESSION,
                      report[1]};
  pid_t pid = spawn_child(&child);
  int fork_errno = errno;
  sigprocmask(SIG_SETMASK, &old, NULL);
  close(report[1]);

  if (pid == -1) {
    close(report[0]);
    throw_errno(env, "fork", fork_errno);
    goto out;
  }

  /* EOF means execve succeeded (the pipe was close-on-exec). */
  char msg[64] = {0};
  ssize_t got;
  do {
    got = read(report[0], msg, sizeof msg - 1);
  } while (got == -1 && errno == EINTR);
  close(report[0]);

  int status;
  if (got > 0) {
    /* The child could not exec and exits at once: reap it here. */
    while (waitpid(pid, &status, 0) == -1 && errno == EINTR) {
    }
  }
  if (!spawn_report(env, pid, got, msg, &result)) {
    result = NULL;
    if (got <= 0) {
      /* The program runs, but JS would never learn its pid: stop it now
       * rather than leave it unsupervised (nothing of it has run long). */
      kill(pid, SIGKILL);
      while (waitpid(pid, &status, 0) == -1 && errno == EINTR) {
      }
    }
  }

out:
  free(file);
  free(cwd);
  free_string_array(argv);
  free_string_array(envp);
  return result;
}

/* failNextSpawnReport(): tests only; the next spawn() fails after its fork. */
static napi_value FailNextSpawnReport(napi_env env, napi_callback_info info) {
  (void)info;
  fail_next_spawn_report = true;
  return js_true(env);
}

/* ---- reaping ----------------------------------------------------------- */

typedef struct {
  const int32_t *pids;
  size_t count;
} pid_set;

static bool owned(const pid_set *set, pid_t pid) {
  for (size_t i = 0; i < set->count; i++)
    if (set->pids[i] == pid) return true;
  return false;
}

typedef struct {
  napi_env env;
  napi_value array;
  uint32_t length;
} reap_list;

static bool record(reap_list *list, pid_t pid, int status) {
  napi_env env = list->env;
  napi_value entry, pid_value, code_value, signal_value;
  if (napi_create_object(env, &entry) != napi_ok) return false;
  napi_create_int32(env, pid, &pid_value);
  if (WIFEXITED(status)) {
    napi_create_int32(env, WEXITSTATUS(status), &code_value);
    napi_get_null(env, &signal_value);
  } else {
    napi_get_null(env, &code_value);
    napi_create_int32(env, WIFSIGNALED(status) ? WTERMSIG(status) : 0, &signal_value);
  }
  napi_set_named_property(env, entry, "pid", pid_value);
  napi_set_named_property(env, entry, "code", code_value);
  napi_set_named_property(env, entry, "signal", signal_value);
  return napi_set_element(env, list->array, list->length++, entry) == napi_ok;
}

/* Reaps `pid` if it is a zombie. Returns 1 when reaped. */
static int reap_one(reap_list *list, pid_t pid) {
  int status;
  pid_t r;
  do {
    r = waitpid(pid, &status, WNOHANG | __WALL);
  } while (r == -1 && errno == EINTR);
  if (r != pid) return 0;
  record(list, pid, status);
  return 1;
}

/* Reaps the zombies among the pids listed in one children file. */
static int reap_listed(reap_list *list, const pid_set *skip, const char *path) {
  FILE *f = fopen(path, "re");
  if (f == NULL) return 0;
  int reaped = 0;
  long pid;
  while (fscanf(f, "%ld", &pid) == 1)
    if (!owned(skip, (pid_t)pid)) reaped += reap_one(list, (pid_t)pid);
  fclose(f);
  return reaped;
}

/*
 * The slow path, taken when the first zombie waitid() shows us is libuv's:
 * walk our children as /proc lists them (every thread's children file) and
 * reap each one that is not owned. Without CONFIG_PROC_CHILDREN or without
 * /proc this finds nothing, and libuv's own reaping unblocks the fast path
 * on the next sweep.
 */
static int reap_from_proc(reap_list *list, const pid_set *skip) {
  DIR *tasks = opendir("/proc/self/task");
  if (tasks == NULL) return 0;
  int reaped = 0;
  struct dirent *task;
  char path[300];
  while ((task = readdir(tasks)) != NULL) {
    if (task->d_name[0] < '0' || task->d_name[0] > '9') continue;
    snprintf(path, sizeof path, "/proc/self/task/%s/children", task->d_name);
    reaped += reap_listed(list, skip, path);
  }
  closedir(tasks);
  return reaped;
}

/*
 * reap(owned: Int32Array) -> Array<{ pid, code, signal }>
 * Reaps every zombie child that is not in `owned`, looping until a pass
 * reaps nothing (SIGCHLD coalesces, so one signal may stand for many exits).
 */
static napi_value Reap(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value args[1];
  CHECK(napi_get_cb_info(env, info, &argc, args, NULL, NULL));

  pid_set skip = {NULL, 0};
  if (argc >= 1) {
    bool is_typed = false;
    CHECK(napi_is_typedarray(env, args[0], &is_typed));
    if (is_typed) {
      napi_typedarray_type type;
      void *data;
      CHECK(napi_get_typedarray_info(env, args[0], &type, &skip.count, &data, NULL, NULL));
      if (type != napi_int32_array) {
        napi_throw_type_error(env, NULL, "reap(owned: Int32Array)");
        return NULL;
      }
      skip.pids = data;
    }
  }

  reap_list list = {env, NULL, 0};
  CHECK(napi_create_array(env, &list.array));

  for (;;) {
    siginfo_t peek;
    memset(&peek, 0, sizeof peek);
    /* WNOWAIT: look at the first zombie without consuming it. */
    int r = waitid(P_ALL, 0, &peek, WEXITED | WNOHANG | WNOWAIT | __WALL);
    if (r == -1 && errno == EINTR) continue;
    if (r == -1 || peek.si_pid == 0) break; /* ECHILD, or no zombie */
    if (!owned(&skip, peek.si_pid)) {
      reap_one(&list, peek.si_pid);
      continue;
    }
    if (reap_from_proc(&list, &skip) == 0) break;
  }
  return list.array;
}


/* ---- the reaper thread --------------------------------------------------- */

/*
 * A thread that blocks in waitid() and reaps each zombie the moment the kernel
 * reports it, without waking the event loop: an orphan storm is reaped as
 * fast as tini does it, instead of one SIGCHLD callback at a time.
 *
 * It never takes libuv's children (hook handlers): their pids are in `owned`,
 * and while JS is inside a spawn (holdReaper .. releaseReaper, around execa's
 * synchronous fork) it takes nobody, because a just-forked child that exits at
 * once could otherwise be reaped before JS has recorded its pid. A libuv
 * zombie at the head of the list is left to libuv; we look again in 1 ms.
 *
 * The program's exit goes to JS through a thread-safe function; orphans are
 * only counted.
 */
static pthread_mutex_t reaper_lock = PTHREAD_MUTEX_INITIALIZER;
static int32_t *reaper_owned = NULL;
static size_t reaper_owned_count = 0;
static int reaper_holds = 0;
static pid_t reaper_watched = 0;
static unsigned long reaper_orphans = 0;
static napi_threadsafe_function reaper_tsfn = NULL;

typedef struct {
  pid_t pid;
  int status;
} exit_report;

static bool reaper_skips(pid_t pid) {
  if (reaper_holds > 0) return true;
  for (size_t i = 0; i < reaper_owned_count; i++)
    if (reaper_owned[i] == pid) return true;
  return false;
}

static void *reaper_main(void *arg) {
  (void)arg;
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, NULL); /* signals are the main thread's business */
  for (;;) {
    siginfo_t peek;
    memset(&peek, 0, sizeof peek);
    if (waitid(P_ALL, 0, &peek, WEXITED | WNOWAIT | __WALL) == -1) {
      /* ECHILD: no children at all right now (before the program, or after
       * it when only orphans' parents remain); look again soon. */
      if (errno != EINTR) usleep(10 * 1000);
      continue;
    }
    if (peek.si_pid == 0) continue;
    pthread_mutex_lock(&reaper_lock);
    bool skip = reaper_skips(peek.si_pid);
    int status = 0;
    pid_t reaped = skip ? 0 : waitpid(peek.si_pid, &status, WNOHANG | __WALL);
    bool is_program = reaped > 0 && reaped == reaper_watched;
    if (reaped > 0 && !is_program) reaper_orphans++;
    pthread_mutex_unlock(&reaper_lock);
    if (skip) {
      usleep(1000);
      continue;
    }
    if (is_program) {
      exit_report *report = malloc(sizeof *report);
      if (report != NULL) {
        report->pid = reaped;
        report->status = status;
        if (napi_call_threadsafe_function(reaper_tsfn, report, napi_tsfn_blocking) != napi_ok) free(report);
      }
    }
  }
  return NULL;
}

static void deliver_exit(napi_env env, napi_value callback, void *context, void *data) {
  (void)context;
  exit_report *report = data;
  if (env != NULL && callback != NULL) {
    reap_list list = {env, NULL, 0};
    if (napi_create_array(env, &list.array) == napi_ok) {
      record(&list, report->pid, report->status);
      napi_value entry, undefined;
      if (napi_get_element(env, list.array, 0, &entry) == napi_ok && napi_get_undefined(env, &undefined) == napi_ok)
        napi_call_function(env, undefined, callback, 1, &entry, NULL);
    }
  }
  free(report);
}

/* startReaper(programPid, onProgramExit({pid, code, signal})) */
static napi_value StartReaper(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value args[2];
  CHECK(napi_get_cb_info(env, info, &argc, args, NULL, NULL));
  int32_t pid = 0;
  if (argc < 2 || napi_get_value_int32(env, args[0], &pid) != napi_ok) {
    napi_throw_type_error(env, NULL, "startReaper(programPid, onProgramExit)");
    return NULL;
  }
  if (reaper_tsfn != NULL) {
    napi_throw_error(env, NULL, "the reaper thread is already running");
    return NULL;
  }
  napi_value name;
  CHECK(napi_create_string_utf8(env, "hookinit reaper", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_create_threadsafe_function(env, args[1], NULL, name, 0, 1, NULL, NULL, NULL, deliver_exit,
                                        &reaper_tsfn));
  /* The thread must not keep the process alive: hookinit decides when to exit. */
  CHECK(napi_unref_threadsafe_function(env, reaper_tsfn));
  pthread_mutex_lock(&reaper_lock);
  reaper_watched = pid;
  pthread_mutex_unlock(&reaper_lock);
  pthread_t thread;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  int err = pthread_create(&thread, &attr, reaper_main, NULL);
  pthread_attr_destroy(&attr);
  if (err != 0) return throw_errno(env, "pthread_create", err);
  return js_true(env);
}

/* setOwned(pids: Int32Array): libuv's children, never to be reaped by us. */
static napi_value SetOwned(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value args[1];
  CHECK(napi_get_cb_info(env, info, &argc, args, NULL, NULL));
  napi_typedarray_type type;
  size_t count = 0;
  void *data = NULL;
  bool is_typed = false;
  if (argc < 1 || napi_is_typedarray(env, args[0], &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, args[0], &type, &count, &data, NULL, NULL) != napi_ok ||
      type != napi_int32_array) {
    napi_throw_type_error(env, NULL, "setOwned(pids: Int32Array)");
    return NULL;
  }
  int32_t *copy = count == 0 ? NULL : malloc(count * sizeof(int32_t));
  if (count > 0 && copy == NULL) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  if (count > 0) memcpy(copy, data, count * sizeof(int32_t));
  pthread_mutex_lock(&reaper_lock);
  int32_t *old = reaper_owned;
  reaper_owned = copy;
  reaper_owned_count = count;
  pthread_mutex_unlock(&reaper_lock);
  free(old);
  return NULL;
}

static napi_value HoldReaper(napi_env env, napi_callback_info info) {
  (void)env;
  (void)info;
  pthread_mutex_lock(&reaper_lock);
  reaper_holds++;
  pthread_mutex_unlock(&reaper_lock);
  return NULL;
}

static napi_value ReleaseReaper(napi_env env, napi_callback_info info) {
  (void)env;
  (void)info;
  pthread_mutex_lock(&reaper_lock);
  if (reaper_holds > 0) reaper_holds--;
  pthread_mutex_unlock(&reaper_lock);
  return NULL;
}

/* takeReapedOrphans(): orphans the thread reaped since the last call. */
static napi_value TakeReapedOrphans(napi_env env, napi_callback_info info) {
  (void)info;
  pthread_mutex_lock(&reaper_lock);
  unsigned long count = reaper_orphans;
  reaper_orphans = 0;
  pthread_mutex_unlock(&reaper_lock);
  napi_value result;
  CHECK(napi_create_double(env, (double)count, &result));
  return result;
}

/* ---- misc -------------------------------------------------------------- */

static napi_value SetSubreaper(napi_env env, napi_callback_info info) {
  (void)info;
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == -1)
    return throw_errno(env, "prctl(PR_SET_CHILD_SUBREAPER)", errno);
  return js_true(env);
}

/* peerCredentials(fd) -> { pid, uid, gid } */
static napi_value PeerCredentials(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value args[1];
  CHECK(napi_get_cb_info(env, info, &argc, args, NULL, NULL));
  int32_t fd = -1;
  if (argc < 1 || napi_get_value_int32(env, args[0], &fd) != napi_ok) {
    napi_throw_type_error(env, NULL, "peerCredentials(fd: number)");
    return NULL;
  }
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1)
    return throw_errno(env, "getsockopt(SO_PEERCRED)", errno);
  napi_value result, pid, uid, gid;
  CHECK(napi_create_object(env, &result));
  CHECK(napi_create_int32(env, cred.pid, &pid));
  CHECK(napi_create_uint32(env, cred.uid, &uid));
  CHECK(napi_create_uint32(env, cred.gid, &gid));
  CHECK(napi_set_named_property(env, result, "pid", pid));
  CHECK(napi_set_named_property(env, result, "uid", uid));
  CHECK(napi_set_named_property(env, result, "gid", gid));
  return result;
}

/* ---- fault signals ------------------------------------------------------ */

/*
 * hookinit forwards SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP and SIGSYS when
 * someone sends them with kill(2), like any other signal. But a JS listener
 * turns a real fault in hookinit itself into an endless loop: libuv's handler
 * returns and the faulting instruction runs again. tini keeps these signals
 * for itself for the same reason (signals_for_tini in tini.c). So we wrap
 * libuv's handler: a signal sent by a process (si_code <= 0) goes on to
 * libuv and so to the program; a real fault restores the default action and
 * returns, so the fault repeats and the kernel ends us with a core.
 * SIGPIPE and SIGXFSZ get the same wrapper for the opposite case: see below.
 */
static const int fault_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGPIPE, SIGXFSZ};
#define FAULT_COUNT (sizeof fault_signals / sizeof fault_signals[0])
static struct sigaction chained[FAULT_COUNT];

static void fault_guard(int sig, siginfo_t *si, void *context) {
  for (size_t i = 0; i < FAULT_COUNT; i++) {
    if (fault_signals[i] != sig) continue;
    if (sig == SIGPIPE || sig == SIGXFSZ) {
      /* The kernel raises these on our own failed write (a closed log
       * reader, a file size limit) with si_pid = our pid: drop those, as
       * Node would by ignoring SIGPIPE, instead of forwarding them and
       * killing the program. One sent by another process goes on. */
      if (si != NULL && si->si_code == SI_USER && si->si_pid == getpid()) return;
    } else if (si != NULL && si->si_code > 0) {
      signal(sig, SIG_DFL);
      return;
    }
    if (chained[i].sa_flags & SA_SIGINFO) {
      chained[i].sa_sigaction(sig, si, context);
    } else if (chained[i].sa_handler != SIG_DFL && chained[i].sa_handler != SIG_IGN) {
      chained[i].sa_handler(sig);
    }
    return;
  }
}

/* guardFaultSignals(): call after the JS listeners are installed. */
static napi_value GuardFaultSignals(napi_env env, napi_callback_info info) {
  (void)info;
  for (size_t i = 0; i < FAULT_COUNT; i++) {
    struct sigaction guard;
    memset(&guard, 0, sizeof guard);
    guard.sa_sigaction = fault_guard;
    guard.sa_flags = SA_SIGINFO | SA_RESTART;
    sigfillset(&guard.sa_mask);
    if (sigaction(fault_signals[i], NULL, &chained[i]) == -1 ||
        sigaction(fault_signals[i], &guard, NULL) == -1)
      return throw_errno(env, "sigaction", errno);
  }
  return js_true(env);
}

/*
 * ignoreTerminalStops(): on a terminal, the program holds the foreground and
 * we are in the background; a write of ours with TOSTOP set would bring a
 * SIGTTOU that a handler cannot satisfy (the write restarts forever). tini
 * ignores SIGTTIN and SIGTTOU for the same reason.
 */
static napi_value IgnoreTerminalStops(napi_env env, napi_callback_info info) {
  (void)info;
  signal(SIGTTIN, SIG_IGN);
  signal(SIGTTOU, SIG_IGN);
  return js_true(env);
}

/* isatty(fd): node:tty would load net and the stream machinery before the
 * program starts, only to answer this. */
static napi_value IsATTY(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value args[1];
  CHECK(napi_get_cb_info(env, info, &argc, args, NULL, NULL));
  int32_t fd = 0;
  if (argc >= 1) CHECK(napi_get_value_int32(env, args[0], &fd));
  napi_value result;
  CHECK(napi_get_boolean(env, isatty(fd) == 1, &result));
  return result;
}

/*
 * unblockSignals(numbers): `--disable-sigusr1` (which keeps SIGUSR1 from
 * opening the inspector) leaves SIGUSR1 blocked in every thread, so our own
 * listener would never run. Call on the main thread once the listeners exist.
 */
static napi_value UnblockSignals(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value args[1];
  CHECK(napi_get_cb_info(env, info, &argc, args, NULL, NULL));
  uint32_t n = 0;
  if (argc < 1 || napi_get_array_length(env, args[0], &n) != napi_ok) {
    napi_throw_type_error(env, NULL, "unblockSignals(numbers: number[])");
    return NULL;
  }
  sigset_t set;
  sigemptyset(&set);
  for (uint32_t i = 0; i < n; i++) {
    napi_value item;
    int32_t sig;
    CHECK(napi_get_element(env, args[0], i, &item));
    CHECK(napi_get_value_int32(env, item, &sig));
    sigaddset(&set, sig);
  }
  int err = sigprocmask(SIG_UNBLOCK, &set, NULL) == -1 ? errno : 0;
  if (err != 0) return throw_errno(env, "sigprocmask", err);
  return js_true(env);
}

/*
 * catchSignals(numbers, onSignal(number)): signals the JS runtime cannot
 * listen for. Bun leaves SIGSTKFLT without a handler (it would kill PID 1's
 * program unforwarded, or us) and JavaScriptCore keeps SIGPWR for its own
 * thread suspension (WTF's SigThreadSuspendResume), so process.on() never
 * sees either. A handler here writes the number to a pipe; a thread turns it
 * into a call on the event loop. A handler already installed (JSC's) is
 * chained: a signal our own process sent to one of its threads (tgkill,
 * SI_TKILL from our pid) is still JSC's; any other is forwarded.
 */
#define MAX_SIGNAL 64
static int catch_pipe[2] = {-1, -1};
static struct sigaction caught_previous[MAX_SIGNAL + 1];
static napi_threadsafe_function catch_tsfn = NULL;

static void catch_handler(int sig, siginfo_t *info, void *context) {
  int saved = errno;
  struct sigaction *previous = &caught_previous[sig];
  bool ours = info != NULL && info->si_code == SI_TKILL && info->si_pid == getpid();
  bool chained = (previous->sa_flags & SA_SIGINFO) ? previous->sa_sigaction != NULL
                                                   : (previous->sa_handler != SIG_DFL && previous->sa_handler != SIG_IGN);
  if (ours && chained) {
    if (previous->sa_flags & SA_SIGINFO)
      previous->sa_sigaction(sig, info, context);
    else
      previous->sa_handler(sig);
  } else {
    unsigned char byte = (unsigned char)sig;
    ssize_t ignored = write(catch_pipe[1], &byte, 1);
    (void)ignored;
  }
  errno = saved;
}

static void *catch_main(void *arg) {
  (void)arg;
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, NULL);
  for (;;) {
    unsigned char byte;
    ssize_t n = read(catch_pipe[0], &byte, 1);
    if (n == 1) {
      napi_call_threadsafe_function(catch_tsfn, (void *)(uintptr_t)byte, napi_tsfn_blocking);
    } else if (n == -1 && errno != EINTR) {
      return NULL;
    }
  }
}

static void deliver_signal(napi_env env, napi_value callback, void *context, void *data) {
  (void)context;
  if (env == NULL || callback == NULL) return;
  napi_value number, undefined;
  if (napi_create_int32(env, (int32_t)(uintptr_t)data, &number) == napi_ok &&
      napi_get_undefined(env, &undefined) == napi_ok)
    napi_call_function(env, undefined, callback, 1, &number, NULL);
}

static napi_value CatchSignals(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value args[2];
  CHECK(napi_get_cb_info(env, info, &argc, args, NULL, NULL));
  uint32_t n = 0;
  if (argc < 2 || napi_get_array_length(env, args[0], &n) != napi_ok) {
    napi_throw_type_error(env, NULL, "catchSignals(numbers: number[], onSignal)");
    return NULL;
  }
  if (catch_tsfn != NULL) {
    napi_throw_error(env, NULL, "catchSignals was already called");
    return NULL;
  }
  if (pipe2(catch_pipe, O_CLOEXEC) == -1) return throw_errno(env, "pipe2", errno);
  /* A full pipe drops a signal rather than blocking a handler. */
  fcntl(catch_pipe[1], F_SETFL, fcntl(catch_pipe[1], F_GETFL) | O_NONBLOCK);
  napi_value name;
  CHECK(napi_create_string_utf8(env, "hookinit signals", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_create_threadsafe_function(env, args[1], NULL, name, 0, 1, NULL, NULL, NULL, deliver_signal,
                                        &catch_tsfn));
  CHECK(napi_unref_threadsafe_function(env, catch_tsfn));
  pthread_t thread;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  int err = pthread_create(&thread, &attr, catch_main, NULL);
  pthread_attr_destroy(&attr);
  if (err != 0) return throw_errno(env, "pthread_create", err);
  for (uint32_t i = 0; i < n; i++) {
    napi_value item;
    int32_t sig;
    CHECK(napi_get_element(env, args[0], i, &item));
    CHECK(napi_get_value_int32(env, item, &sig));
    if (sig <= 0 || sig > MAX_SIGNAL) continue;
    struct sigaction handler;
    memset(&handler, 0, sizeof handler);
    handler.sa_sigaction = catch_handler;
    handler.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
    sigfillset(&handler.sa_mask);
    if (sigaction(sig, NULL, &caught_previous[sig]) == -1 || sigaction(sig, &handler, NULL) == -1)
      return throw_errno(env, "sigaction", errno);
  }
  return js_true(env);
}

/*
 * connectUnix(path) -> fd: a blocking, close-on-exec unix stream socket
 * connected to `path`. The hook client is a short-lived process that does one
 * exchange; read(2)/write(2) on this fd spare it node:net and the stream
 * machinery, which cost more than the whole exchange in a cold process.
 */
static napi_value ConnectUnix(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value args[1];
  CHECK(napi_get_cb_info(env, info, &argc, args, NULL, NULL));
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  size_t len = 0;
  if (argc < 1 ||
      napi_get_value_string_utf8(env, args[0], addr.sun_path, sizeof addr.sun_path, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "connectUnix(path: string)");
    return NULL;
  }
  if (len >= sizeof addr.sun_path - 1) return throw_errno(env, "connect", ENAMETOOLONG);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd == -1) return throw_errno(env, "socket", errno);
  int r;
  do {
    r = connect(fd, (struct sockaddr *)&addr, sizeof addr);
  } while (r == -1 && errno == EINTR);
  if (r == -1) {
    int err = errno;
    close(fd);
    return throw_errno(env, "connect", err);
  }
  napi_value result;
  CHECK(napi_create_int32(env, fd, &result));
  return result;
}

/*
 * Drops this process's page-table entries for the executable code and
 * read-only data that start-up touched: file-backed, read-only, private
 * mappings holding no private (copied-on-write) page. The pages stay in the
 * page cache, shared with every other hookinit on the node, and fault back in
 * (minor faults) when used; until then they stop counting in our VmRSS. A
 * mapping with private pages (RELRO after relocation) is left alone: dropping
 * those would lose the relocations. Needs /proc/self/smaps; without /proc it
 * does nothing. Returns the bytes released from our RSS.
 */
static size_t release_file_pages(void) {
  FILE *smaps = fopen("/proc/self/smaps", "re");
  if (smaps == NULL) return 0;
  char line[512];
  unsigned long start = 0, end = 0;
  bool candidate = false;
  size_t rss = 0, released = 0;
  for (;;) {
    char *got = fgets(line, sizeof line, smaps);
    unsigned long a, b;
    char perms[8] = {0};
    unsigned long long offset;
    unsigned int major, minor;
    unsigned long inode = 0;
    int consumed = 0;
    bool header = got != NULL && sscanf(line, "%lx-%lx %7s %llx %x:%x %lu %n", &a, &b, perms, &offset, &major,
                                        &minor, &inode, &consumed) >= 7;
    if (got == NULL || header) {
      candidate = false;
      if (got == NULL) break;
      start = a;
      end = b;
      rss = 0;
      /* r--p or r-xp, backed by a file (inode), not [vdso] and the like. */
      candidate = perms[0] == 'r' && perms[1] == '-' && perms[3] == 'p' && inode != 0;
      continue;
    }
    if (!candidate) continue;
    size_t kb;
    if (sscanf(line, "Rss: %zu kB", &kb) == 1) rss = kb;
    else if (sscanf(line, "Anonymous: %zu kB", &kb) == 1) {
      /* The last field we need for this mapping: decide now. */
      if (kb == 0 && rss > 0 && madvise((void *)start, end - start, MADV_DONTNEED) == 0)
        released += rss * 1024;
      candidate = false;
    }
  }
  fclose(smaps);
  return released;
}

/*
 * trimMemory(): malloc_trim(0), then release_file_pages(). Start-up
 * allocates and frees a lot (the code cache, the bundle's source) and runs
 * much code once; glibc keeps the freed pages and the kernel keeps the code
 * mapped. An idle PID 1 in every container should give both back.
 */
static napi_value TrimMemory(napi_env env, napi_callback_info info) {
  (void)info;
  malloc_trim(0);
  napi_value result;
  CHECK(napi_create_double(env, (double)release_file_pages(), &result));
  return result;
}

static napi_value Init(napi_env env, napi_value exports) {
  // Started through the hookinit directory's own ELF loader (native/front.c),
  // the thread is named after the loader ("ld-linux-x86-64"), which is what
  // top and ps -o comm show. Name it after us.
  char name[16] = {0};
  if (prctl(PR_GET_NAME, name, 0, 0, 0) == 0 && strncmp(name, "ld-", 3) == 0)
    prctl(PR_SET_NAME, "hookinit", 0, 0, 0);
  napi_property_descriptor props[] = {
      {"spawn", NULL, Spawn, NULL, NULL, NULL, napi_default, NULL},
      {"reap", NULL, Reap, NULL, NULL, NULL, napi_default, NULL},
      {"setSubreaper", NULL, SetSubreaper, NULL, NULL, NULL, napi_default, NULL},
      {"guardFaultSignals", NULL, GuardFaultSignals, NULL, NULL, NULL, napi_default, NULL},
      {"ignoreTerminalStops", NULL, IgnoreTerminalStops, NULL, NULL, NULL, napi_default, NULL},
      {"isatty", NULL, IsATTY, NULL, NULL, NULL, napi_default, NULL},
      {"unblockSignals", NULL, UnblockSignals, NULL, NULL, NULL, napi_default, NULL},
      {"catchSignals", NULL, CatchSignals, NULL, NULL, NULL, napi_default, NULL},
      {"connectUnix", NULL, ConnectUnix, NULL, NULL, NULL, napi_default, NULL},
      {"trimMemory", NULL, TrimMemory, NULL, NULL, NULL, napi_default, NULL},
      {"startReaper", NULL, StartReaper, NULL, NULL, NULL, napi_default, NULL},
      {"setOwned", NULL, SetOwned, NULL, NULL, NULL, napi_default, NULL},
      {"holdReaper", NULL, HoldReaper, NULL, NULL, NULL, napi_default, NULL},
      {"releaseReaper", NULL, ReleaseReaper, NULL, NULL, NULL, napi_default, NULL},
      {"takeReapedOrphans", NULL, TakeReapedOrphans, NULL, NULL, NULL, napi_default, NULL},
      {"peerCredentials", NULL, PeerCredentials, NULL, NULL, NULL, napi_default, NULL},
      {"failNextSpawnReport", NULL, FailNextSpawnReport, NULL, NULL, NULL, napi_default, NULL},
  };
  CHECK(napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
