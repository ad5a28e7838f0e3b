// The machine's ceiling for the sleep rows: what any server could get there on this machine.
// One thread, epoll, no HTTP parsing, no Python: read a request, answer it 0.1 s later, close
// it if it asked for `Connection: close`. Every sleep is the same length, so the sleepers wait in
// a FIFO ordered by deadline. Built and run by bench/report (cc -O2 bench/sleep_ceiling.c).
//
//     sleep_ceiling PORT
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_FDS 65536
#define SLEEP_NS 100000000LL

static const char kKeep[] =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\nslept\n";
static const char kClose[] =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\nConnection: close\r\n\r\nslept\n";

struct sleeper {
  int fd;
  int close;
  int64_t deadline;
};
static struct sleeper queue[MAX_FDS];  // ring: at most one sleeper per fd
static unsigned head, count;

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void watch(int ep, int fd, int op) {
  struct epoll_event ev = {.events = EPOLLIN | EPOLLONESHOT, .data.fd = fd};
  epoll_ctl(ep, op, fd, &ev);
}

static void on_request(int ep, int fd) {
  char buf[4096];
  ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) {
    if (n < 0 && errno == EAGAIN) {
      watch(ep, fd, EPOLL_CTL_MOD);
      return;
    }
    close(fd);
    return;
  }
  buf[n] = 0;
  struct sleeper *s = &queue[(head + count++) % MAX_FDS];
  s->fd = fd;
  s->close = strcasestr(buf, "connection: close") != NULL;
  s->deadline = now_ns() + SLEEP_NS;
}

static void wake_due(int ep) {
  int64_t now = now_ns();
  while (count && queue[head].deadline <= now) {
    struct sleeper *s = &queue[head];
    head = (head + 1) % MAX_FDS;
    count--;
    const char *r = s->close ? kClose : kKeep;
    size_t len = s->close ? sizeof kClose - 1 : sizeof kKeep - 1;
    if (send(s->fd, r, len, MSG_NOSIGNAL) != (ssize_t)len || s->close)
      close(s->fd);
    else
      watch(ep, s->fd, EPOLL_CTL_MOD);
  }
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s PORT\n", argv[0]);
    return 2;
  }
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1, defer = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(lfd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer, sizeof defer);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1]))};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(lfd, 1024) < 0) {
    perror("sleep_ceiling: bind/listen");
    return 1;
  }
  int ep = epoll_create1(0);
  struct epoll_event lev = {.events = EPOLLIN, .data.fd = lfd};
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev);
  struct epoll_event evs[256];
  for (;;) {
    int timeout = -1;
    if (count) {  // round up: never wake before the first deadline
      int64_t left = queue[head].deadline - now_ns();
      timeout = left <= 0 ? 0 : (int)((left + 999999) / 1000000);
    }
    int n = epoll_wait(ep, evs, 256, timeout);
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd;
      if (fd != lfd) {
        on_request(ep, fd);
        continue;
      }
      for (;;) {
        int c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
        if (c < 0) break;
        if (c >= MAX_FDS) {
          close(c);
          continue;
        }
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        watch(ep, c, EPOLL_CTL_ADD);
      }
    }
    wake_due(ep);
  }
}
