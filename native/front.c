// hookinit's entry executable (hookinit/hookinit): a small static program
// that needs no library and no ELF loader from the image.
//
// The JS runtime (lib/hookinit-runtime) is an ordinary dynamically linked
// executable. Its libc, libm and ELF loader ship in lib/ beside it, and this
// front starts it through that loader:
//
//   <dir>/lib/ld-linux-*.so* --library-path <dir>/lib --argv0 <dir>/hookinit
//       <dir>/lib/hookinit-runtime ARG...
//
// So nothing of the image is used (glibc, musl or no libc at all) and nothing
// of it is overwritten, and the directory works wherever it is copied: no
// absolute PT_INTERP or RUNPATH is written into the runtime. (Rewriting them
// with Debian 12's patchelf 0.14 breaks the arm64 Bun executable; running it
// through its loader does not touch the file.) execve keeps the pid, so as
// PID 1 the runtime stays PID 1; the extra exec costs well under a millisecond
// (docs/ARCHITECTURE.md, "The runtime, and the hookinit directory").
//
// The client commands (hook, status, ready) are answered here, in C, when the
// client is linked in (HOOKINIT_CLIENT): a lifecycle hook or a probe then
// never starts the JS runtime.
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef HOOKINIT_LOADER
#if defined(__x86_64__)
#define HOOKINIT_LOADER "ld-linux-x86-64.so.2"
#elif defined(__aarch64__)
#define HOOKINIT_LOADER "ld-linux-aarch64.so.1"
#else
#error "unsupported architecture: set HOOKINIT_LOADER"
#endif
#endif

#define RUNTIME "hookinit-runtime"
// Preloaded when present: lets the runtime start without /proc (native/noproc.c).
#define NOPROC "libhookinit-noproc.so"
// The directory cannot run its runtime (a file is missing or not executable):
// a broken installation, as a missing native helper is (EX_OSFILE,
// src/core/exit-codes.ts).
#define EXIT_BROKEN 72
// Where images hold the directory; the last guess when nothing else tells.
#define DEFAULT_HOME "/hookinit"

#ifdef HOOKINIT_CLIENT
#include "client.h"
#endif

extern char **environ;

static void say(const char *a, const char *b, const char *c, const char *d) {
  // One line, one write: lines from concurrent calls do not interleave.
  char line[3 * PATH_MAX];
  int n = snprintf(line, sizeof line, "hookinit: %s%s%s%s\n", a, b, c, d);
  if (n > 0) {
    ssize_t ignored = write(2, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
    (void)ignored;
  }
}

static int executable(const char *path) { return access(path, X_OK) == 0; }

/* The directory holding this executable, without a trailing slash. */
static int find_home(const char *argv0, char *home, size_t size) {
  char path[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
  if (n > 0) {
    path[n] = '\0';
  } else if (argv0 != NULL && strchr(argv0, '/') != NULL) {
    // No /proc: trust argv[0], which runtimes set to the path they ran.
    if (realpath(argv0, path) == NULL) return -1;
  } else if (argv0 != NULL && argv0[0] != '\0') {
    // No /proc and found through PATH, as a shell does.
    const char *search = getenv("PATH");
    if (search == NULL) search = "/usr/local/bin:/usr/bin:/bin";
    int found = 0;
    while (!found && *search != '\0') {
      size_t len = strcspn(search, ":");
      char candidate[PATH_MAX];
      if (snprintf(candidate, sizeof candidate, "%.*s/%s", (int)len, search, argv0) <
              (int)sizeof candidate &&
          executable(candidate) && realpath(candidate, path) != NULL)
        found = 1;
      search += len;
      if (*search == ':') search++;
    }
    if (!found) return -1;
  } else {
    return -1;
  }
  char *slash = strrchr(path, '/');
  if (slash == NULL) return -1;
  *slash = '\0';
  if (snprintf(home, size, "%s", path[0] == '\0' ? "/" : path) >= (int)size) return -1;
  return 0;
}

/*
 * The loader would honour LD_PRELOAD and LD_AUDIT from the image and load the
 * image's libraries into the runtime. They are renamed for the runtime, which
 * puts them back (src/core/home.ts) before it starts anything, so the program
 * and the hook handlers get the environment unchanged. LD_LIBRARY_PATH needs
 * nothing: --library-path replaces it for the runtime only.
 */
static const char *const MOVED[] = {"LD_PRELOAD", "LD_AUDIT"};
#define MOVED_PREFIX "HOOKINIT_FRONT_"

static char **runtime_environment(void) {
  size_t count = 0;
  while (environ[count] != NULL) count++;
  char **env = calloc(count + 1, sizeof *env);
  if (env == NULL) return environ;
  for (size_t i = 0; i < count; i++) {
    env[i] = environ[i];
    for (size_t m = 0; m < sizeof MOVED / sizeof *MOVED; m++) {
      size_t len = strlen(MOVED[m]);
      if (strncmp(environ[i], MOVED[m], len) == 0 && environ[i][len] == '=') {
        size_t size = sizeof MOVED_PREFIX + strlen(environ[i]);
        char *renamed = malloc(size);
        if (renamed != NULL) {
          snprintf(renamed, size, "%s%s", MOVED_PREFIX, environ[i]);
          env[i] = renamed;
        }
      }
    }
  }
  return env;
}

int main(int argc, char **argv) {
#ifdef HOOKINIT_CLIENT
  if (argc >= 2 && (strcmp(argv[1], "hook") == 0 || strcmp(argv[1], "status") == 0 ||
                    strcmp(argv[1], "ready") == 0))
    return hookinit_client_main(argc, argv);
#endif
  char home[PATH_MAX];
  if (find_home(argc > 0 ? argv[0] : NULL, home, sizeof home) != 0) {
    snprintf(home, sizeof home, "%s", DEFAULT_HOME);
  }
  char loader[PATH_MAX], libdir[PATH_MAX], runtime[PATH_MAX], entry[PATH_MAX], noproc[PATH_MAX];
  if (snprintf(loader, sizeof loader, "%s/lib/%s", home, HOOKINIT_LOADER) >= (int)sizeof loader ||
      snprintf(noproc, sizeof noproc, "%s/lib/%s", home, NOPROC) >= (int)sizeof noproc ||
      snprintf(libdir, sizeof libdir, "%s/lib", home) >= (int)sizeof libdir ||
      snprintf(runtime, sizeof runtime, "%s/lib/%s", home, RUNTIME) >= (int)sizeof runtime ||
      snprintf(entry, sizeof entry, "%s/hookinit", home) >= (int)sizeof entry) {
    say("path too long: ", home, "", "");
    return EXIT_BROKEN;
  }

  char **args = calloc((size_t)argc + 8, sizeof *args);
  if (args == NULL) {
    say("out of memory", "", "", "");
    return EXIT_BROKEN;
  }
  int n = 0;
  args[n++] = loader;
  args[n++] = "--library-path";
  args[n++] = libdir;
  // The runtime's argv[0] (process.argv0, ps) is this executable, not the loader.
  args[n++] = "--argv0";
  args[n++] = entry;
  if (access(noproc, R_OK) == 0) {
    args[n++] = "--preload";
    args[n++] = noproc;
  }
  args[n++] = runtime;
  for (int i = 1; i < argc; i++) args[n++] = argv[i];
  args[n] = NULL;

  // The loader would report a missing runtime as its own exit 127, which
  // reads as "command not found": look first (one syscall).
  if (access(runtime, R_OK) == 0) execve(loader, args, runtime_environment());
  say(strerror(errno), ": cannot run the hookinit directory ", home,
      " (lib/" HOOKINIT_LOADER ", lib/" RUNTIME "): copy it whole");
  return EXIT_BROKEN;
}
