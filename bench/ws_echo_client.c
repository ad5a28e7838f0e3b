/* Websocket echo load client for bench/websocket_echo.py (built there with cc -O2).
 *
 *   ws_echo_client echo PORT CLIENTS SECONDS SIZE   -> prints "round_trips_per_s N"
 *   ws_echo_client idle PORT N                      -> opens N websockets, prints "open N",
 *                                                      holds them until stdin closes
 *
 * echo: CLIENTS websockets on 127.0.0.1:PORT, each keeps one masked text frame of SIZE bytes in
 * flight (send, read the whole echo, send again) for SECONDS, all on one epoll in one thread, so
 * the client costs a few microseconds per round trip and the server is what is measured. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static void die(const char *what) {
  fprintf(stderr, "ws_echo_client: %s: %s\n", what, strerror(errno));
  exit(1);
}

/* A blocking connect and handshake; the socket is left non-blocking. */
static int ws_connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) die("socket");
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) die("connect");
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  static const char req[] =
      "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  if (write(fd, req, sizeof req - 1) != (ssize_t)(sizeof req - 1)) die("write handshake");
  char buf[1024];
  size_t got = 0;
  /* Read byte by byte up to the blank line: the server may send nothing more until we do. */
  while (got < sizeof buf - 1) {
    ssize_t n = read(fd, buf + got, 1);
    if (n <= 0) die("handshake read");
    got++;
    if (got >= 4 && memcmp(buf + got - 4, "\r\n\r\n", 4) == 0) break;
  }
  buf[got] = 0;
  if (strncmp(buf, "HTTP/1.1 101", 12) != 0) {
    fprintf(stderr, "ws_echo_client: handshake refused: %.80s\n", buf);
    exit(1);
  }
  if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) die("nonblock");
  return fd;
}

struct conn {
  int fd;
  size_t need; /* bytes of the current echo still to read */
};

static int echo(int port, int clients, double seconds, int size) {
  /* The frame: FIN + text, masked, 7-bit or 16-bit length. */
  unsigned char frame[65536 + 8];
  size_t flen = 0;
  frame[flen++] = 0x81;
  if (size < 126) {
    frame[flen++] = 0x80 | size;
  } else {
    frame[flen++] = 0x80 | 126;
    frame[flen++] = size >> 8;
    frame[flen++] = size & 0xff;
  }
  static const unsigned char mask[4] = {1, 2, 3, 4};
  memcpy(frame + flen, mask, 4);
  flen += 4;
  for (int i = 0; i < size; i++) frame[flen + i] = 'x' ^ mask[i & 3];
  flen += size;
  size_t echo_len = (size < 126 ? 2 : 4) + size; /* the server's unmasked frame */

  int ep = epoll_create1(0);
  if (ep < 0) die("epoll_create1");
  struct conn *cs = calloc(clients, sizeof *cs);
  for (int i = 0; i < clients; i++) {
    cs[i].fd = ws_connect(port);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &cs[i]};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev) < 0) die("epoll_ctl");
  }
  for (int i = 0; i < clients; i++) {
    cs[i].need = echo_len;
    if (write(cs[i].fd, frame, flen) != (ssize_t)flen) die("write");
  }
  long count = 0;
  double t0 = now(), end = t0 + seconds;
  struct epoll_event evs[256];
  char buf[65536];
  while (now() < end) {
    int n = epoll_wait(ep, evs, 256, 100);
    if (n < 0 && errno != EINTR) die("epoll_wait");
    for (int i = 0; i < n; i++) {
      struct conn *c = evs[i].data.ptr;
      for (;;) {
        ssize_t r = read(c->fd, buf, sizeof buf);
        if (r == 0) {
          fprintf(stderr, "ws_echo_client: the server closed a connection\n");
          exit(1);
        }
        if (r < 0) {
          if (errno == EAGAIN) break;
          die("read");
        }
        size_t got = (size_t)r;
        while (got >= c->need) {
          got -= c->need;
          c->need = echo_len;
          count++;
          if (write(c->fd, frame, flen) != (ssize_t)flen) die("write");
        }
        c->need -= got;
        if ((size_t)r < sizeof buf) break;
      }
    }
  }
  double elapsed = now() - t0;
  printf("round_trips_per_s %.0f\n", count / elapsed);
  fflush(stdout);
  for (int i = 0; i < clients; i++) close(cs[i].fd);
  return 0;
}

static int idle(int port, int n) {
  int *fds = calloc(n, sizeof *fds);
  for (int i = 0; i < n; i++) fds[i] = ws_connect(port);
  printf("open %d\n", n);
  fflush(stdout);
  char b[64];
  while (read(0, b, sizeof b) > 0) {
  }
  for (int i = 0; i < n; i++) close(fds[i]);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 6 && strcmp(argv[1], "echo") == 0) {
    int size = atoi(argv[5]);
    if (size < 0 || size > 65535) size = 32;
    return echo(atoi(argv[2]), atoi(argv[3]), atof(argv[4]), size);
  }
  if (argc == 4 && strcmp(argv[1], "idle") == 0) return idle(atoi(argv[2]), atoi(argv[3]));
  fprintf(stderr, "usage: ws_echo_client echo PORT CLIENTS SECONDS SIZE | idle PORT N\n");
  return 2;
}
