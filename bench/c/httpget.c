/*
 * httpget: GET /ready as the kubelet's httpGet probe sends it (a new TCP
 * connection per probe, Connection: close), COUNT times one after another;
 * prints "<ns> <status>" per probe: from connect() to the server closing.
 *
 *   httpget PORT COUNT [PATH]
 */
#include "common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: httpget PORT COUNT [PATH]\n");
    return 2;
  }
  int port = atoi(argv[1]);
  long count = strtol(argv[2], NULL, 10);
  const char *path = argc > 3 ? argv[3] : "/ready";
  char request[512];
  int len = snprintf(request, sizeof request,
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: kube-probe/1.34\r\n"
                     "Accept: */*\r\nConnection: close\r\n\r\n",
                     path, port);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  char reply[4096];
  for (long n = 0; n < count; n++) {
    int64_t t0 = now_ns();
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
      perror("httpget: connect");
      return 1;
    }
    if (write(fd, request, (size_t)len) != len) {
      perror("httpget: write");
      return 1;
    }
    size_t got = 0;
    for (;;) {
      ssize_t r = read(fd, reply + got, sizeof reply - 1 - got);
      if (r <= 0) break;
      got += (size_t)r;
      if (got == sizeof reply - 1) got = 0;  // only the status line matters
    }
    int64_t t1 = now_ns();
    close(fd);
    reply[got] = '\0';
    int status = 0;
    if (strncmp(reply, "HTTP/1.1 ", 9) == 0) status = atoi(reply + 9);
    printf("%lld %d\n", (long long)(t1 - t0), status);
  }
  return 0;
}
