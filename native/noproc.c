// Preloaded into the runtime by the entry executable (native/front.c), and
// only there: lets Bun start where /proc is not mounted.
//
// JavaScriptCore asks pthread_getattr_np() for the main thread's stack, and
// glibc answers that from /proc/self/maps; without /proc it fails and Bun
// aborts before running a line of hookinit. hookinit itself works without
// /proc (its socket place has a fallback for that), so this gives the main
// thread's stack from what the process knows without /proc: the top from
// __libc_stack_end, the size from RLIMIT_STACK, less a margin so that the
// bound JavaScriptCore checks stays inside the real stack. Every other case
// goes to glibc unchanged.
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/resource.h>
#include <unistd.h>

extern void *__libc_stack_end;

#define MARGIN (256u * 1024u)
#define FALLBACK_SIZE (8u * 1024u * 1024u)

int pthread_getattr_np(pthread_t thread, pthread_attr_t *attr) {
  static int (*real)(pthread_t, pthread_attr_t *);
  if (real == NULL) real = (int (*)(pthread_t, pthread_attr_t *))dlsym(RTLD_NEXT, "pthread_getattr_np");
  int result = real == NULL ? -1 : real(thread, attr);
  if (result == 0 || getpid() != gettid()) return result;
  if (!pthread_equal(thread, pthread_self())) return result;
  struct rlimit limit;
  size_t size = FALLBACK_SIZE;
  if (getrlimit(RLIMIT_STACK, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < 1024u * 1024u * 1024u)
    size = (size_t)limit.rlim_cur;
  if (size <= 2 * MARGIN) return result;
  size -= MARGIN;
  uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
  uintptr_t top = ((uintptr_t)__libc_stack_end + page - 1) & ~(page - 1);
  if (pthread_attr_init(attr) != 0) return result;
  return pthread_attr_setstack(attr, (void *)(top - size), size);
}
