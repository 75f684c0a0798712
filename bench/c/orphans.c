/*
 * orphans N OUTFILE INTERVAL_US: the program of figure 4 (zombie reaping).
 *
 * Run as the program of an init that is PID 1 of its own pid namespace with
 * its own /proc. It first forks a sampler, then makes N orphans: each time it
 * forks a child that forks a grandchild and exits at once; the program reaps
 * the child itself, and the grandchild, which also exits at once, is
 * reparented to the init (our parent). Only the init can reap it.
 *
 * The sampler scans the namespace's /proc every INTERVAL_US and counts the
 * init's children other than the program and the sampler: "unreaped"
 * (orphans not yet reaped, alive or zombie) and "zombies" (state Z). It
 * stops when the program has made all N and nothing unreaped is left, and
 * writes to OUTFILE (times are CLOCK_MONOTONIC ns):
 *   start T      before the first fork
 *   done T       after the last orphan was made
 *   end T        first sample after "done" with nothing unreaped
 *   peak_zombies N / peak_unreaped N / samples N / left N
 *   init_cpu_ms N  CPU time (user+system, all threads) the init used
 *                  between "start" and "end"
 * then the program exits 0, and so does the init.
 */
#include "common.h"

#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>

static pid_t init_pid, program_pid;

/* Counts the init's other children in one pass over /proc. */
static void scan(long *unreaped, long *zombies) {
  *unreaped = 0;
  *zombies = 0;
  DIR *proc = opendir("/proc");
  if (proc == NULL) return;
  pid_t self = getpid();
  struct dirent *entry;
  char path[300], buf[512];
  while ((entry = readdir(proc)) != NULL) {
    if (entry->d_name[0] < '1' || entry->d_name[0] > '9') continue;
    pid_t pid = (pid_t)strtol(entry->d_name, NULL, 10);
    if (pid == self || pid == program_pid || pid == init_pid) continue;
    snprintf(path, sizeof path, "/proc/%s/stat", entry->d_name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue; /* reaped while we looked */
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) continue;
    buf[n] = '\0';
    char *rparen = strrchr(buf, ')'); /* "pid (comm) S ppid ..." */
    if (rparen == NULL) continue;
    char state = 0;
    int ppid = 0;
    if (sscanf(rparen + 1, " %c %d", &state, &ppid) != 2) continue;
    if (ppid != init_pid) continue;
    (*unreaped)++;
    if (state == 'Z') (*zombies)++;
  }
  closedir(proc);
}

/* The init's user+system CPU time so far, in ms (-1 if unreadable). */
static long init_cpu_ms(void) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)init_pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = '\0';
  char *rparen = strrchr(buf, ')');
  unsigned long utime, stime;
  if (rparen == NULL ||
      sscanf(rparen + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2) {
    return -1;
  }
  return (long)((utime + stime) * 1000 / (unsigned long)sysconf(_SC_CLK_TCK));
}

static int sampler(int from_program, long interval_us, const char *outfile) {
  int64_t start = 0, done = 0, end = 0;
  long peak_zombies = 0, peak_unreaped = 0, samples = 0, left = 0;
  if (read(from_program, &start, sizeof start) != sizeof start) return 1;
  long cpu_before = init_cpu_ms();
  fcntl(from_program, F_SETFL, O_NONBLOCK);
  int64_t give_up = start + (int64_t)300 * 1000000000;
  for (;;) {
    long unreaped, zombies;
    int was_done = done != 0;
    scan(&unreaped, &zombies);
    samples++;
    if (zombies > peak_zombies) peak_zombies = zombies;
    if (unreaped > peak_unreaped) peak_unreaped = unreaped;
    if (!was_done && read(from_program, &done, sizeof done) != sizeof done) done = 0;
    /* Only a scan that began after "done" can prove nothing is left. */
    if (was_done && unreaped == 0) {
      end = now_ns();
      break;
    }
    if (now_ns() > give_up) {
      left = unreaped;
      end = now_ns();
      break;
    }
    if (interval_us > 0) sleep_ns(interval_us * 1000);
  }
  long cpu_after = init_cpu_ms();
  long cpu = cpu_before < 0 || cpu_after < 0 ? -1 : cpu_after - cpu_before;
  char text[512];
  snprintf(text, sizeof text,
           "start %lld\ndone %lld\nend %lld\npeak_zombies %ld\npeak_unreaped %ld\nsamples %ld\nleft %ld\n"
           "init_cpu_ms %ld\n",
           (long long)start, (long long)done, (long long)end, peak_zombies, peak_unreaped, samples,
           left, cpu);
  write_file_atomic(outfile, text);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: orphans N OUTFILE INTERVAL_US\n");
    return 2;
  }
  long count = strtol(argv[1], NULL, 10);
  long interval_us = strtol(argv[3], NULL, 10);
  init_pid = getppid();
  program_pid = getpid();
  if (init_pid != 1) fprintf(stderr, "orphans: warning: the init is pid %d, not 1\n", (int)init_pid);

  int pipefd[2];
  if (pipe(pipefd) != 0) return 1;
  pid_t sampler_pid = fork();
  if (sampler_pid == 0) {
    close(pipefd[1]);
    _exit(sampler(pipefd[0], interval_us, argv[2]));
  }
  close(pipefd[0]);

  int64_t start = now_ns();
  if (write(pipefd[1], &start, sizeof start) != sizeof start) return 1;
  long retries = 0;
  for (long i = 0; i < count; i++) {
    pid_t child = fork();
    if (child < 0) {
      retries++;
      sleep_ns(1000000);
      i--;
      continue;
    }
    if (child == 0) {
      if (fork() < 0) _exit(1);
      _exit(0); /* the grandchild exits at once too: both paths end here */
    }
    while (waitpid(child, NULL, 0) < 0 && errno == EINTR) {
    }
  }
  int64_t done = now_ns();
  if (write(pipefd[1], &done, sizeof done) != sizeof done) return 1;
  if (retries > 0) fprintf(stderr, "orphans: fork failed %ld times (retried)\n", retries);
  int status;
  while (waitpid(sampler_pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
