/*
 * capture OUTFILE MARKFILE MARKER -- CMD [ARG...]: PID 1's stdout, timed.
 *
 * Runs CMD with its stdout on a pipe that we read in 1 MiB chunks and copy
 * to OUTFILE. When the bytes MARKER first appear (even across two reads),
 * the CLOCK_MONOTONIC time of that read goes to MARKFILE. Exits with CMD's
 * exit code (128+N when signal N killed it).
 */
#include "common.h"

#include <sys/wait.h>

int main(int argc, char **argv) {
  if (argc < 6 || strcmp(argv[4], "--") != 0) {
    fprintf(stderr, "usage: capture OUTFILE MARKFILE MARKER -- CMD [ARG...]\n");
    return 2;
  }
  const char *marker = argv[3];
  size_t mlen = strlen(marker);
  int out = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0) {
    perror(argv[1]);
    return 1;
  }
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) return 1;
  fcntl(pipefd[0], F_SETPIPE_SZ, 1 << 20);
  pid_t child = fork();
  if (child == 0) {
    dup2(pipefd[1], 1);
    execv(argv[5], argv + 5);
    perror(argv[5]);
    _exit(127);
  }
  close(pipefd[1]);

  size_t cap = (1 << 20) + mlen;
  char *buf = malloc(cap);
  size_t carry = 0; /* the last mlen-1 bytes of the previous read, kept in front */
  int found = 0;
  for (;;) {
    ssize_t n = read(pipefd[0], buf + carry, cap - carry);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    int64_t t = now_ns();
    if (write(out, buf + carry, (size_t)n) != n) perror("write");
    size_t have = carry + (size_t)n;
    if (!found && memmem(buf, have, marker, mlen) != NULL) {
      found = 1;
      char text[32];
      int len = format_i64(text, t);
      text[len] = '\0';
      write_file_atomic(argv[2], text);
    }
    carry = mlen > 1 && have >= mlen - 1 ? mlen - 1 : 0;
    if (carry > 0) memmove(buf, buf + have - carry, carry);
  }
  int status;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  close(out);
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}
