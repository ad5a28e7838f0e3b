// The machine's ceiling for a workload: what any server could get there on this machine.
// One thread, epoll, no HTTP parsing, no Python: read a request, answer it DELAY_MS later (0: at
// once), close the connection if the request asked for `Connection: close`, else wait for the
// next request on it. A request is whatever one recv() returns (wrk's fit in one segment).
// Built and run by bench/report (cc -O2 bench/c_ceiling.c):
//
//     c_ceiling PORT [DELAY_MS]      # DELAY_MS defaults to 100 (the sleep rows)
//
// Its responses are byte for byte what this project's server sends for the app of those rows, so
// they differ only in what the server does, not in what goes over the wire: with a delay the
// 6-byte "slept\n" of bench/apps/sleep_*.py, with DELAY_MS 0 (the ceiling of the hello rows) the
// 12-byte "Hello World\n" of bench/apps/hello.py.
//
// Closing is graceful, as this project's server does it: the whole request has been read, so
// close() sends a FIN, not a reset (uWSGI's reset is what makes wrk count `read` errors).
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

// The responses, made in main(): the body is the one of the app the rows run.
static char keep[256], closing_resp[256];
static size_t keep_len, close_len;

static int64_t delay_ns;
static int ep;
static unsigned char watched[MAX_FDS];  // fd is in the epoll set

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

// Waits for the next request on fd. With a delay, one-shot: a sleeping connection must not wake
// the loop (a client closing early would otherwise spin it), so it is re-armed after each answer.
// Without one, level-triggered and added once: no epoll_ctl per keep-alive request.
static void watch(int fd) {
  struct epoll_event ev = {.events = EPOLLIN | (delay_ns ? EPOLLONESHOT : 0), .data.fd = fd};
  if (!watched[fd]) {
    watched[fd] = 1;
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  } else if (delay_ns) {
    epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
  }
}

static void drop(int fd) {
  watched[fd] = 0;  // close() takes it out of the epoll set
  close(fd);
}

static void answer(int fd, int closing) {
  const char *r = closing ? closing_resp : keep;
  size_t len = closing ? close_len : keep_len;
  if (send(fd, r, len, MSG_NOSIGNAL) != (ssize_t)len || closing)
    drop(fd);
  else
    watch(fd);
}

static void on_request(int fd) {
  char buf[4096];
  ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) {
    if (n < 0 && errno == EAGAIN) {
      watch(fd);
      return;
    }
    drop(fd);
    return;
  }
  buf[n] = 0;
  int closing = strcasestr(buf, "connection: close") != NULL;
  if (!delay_ns) {
    answer(fd, closing);
    return;
  }
  // Every sleep is the same length, so the sleepers wait in a FIFO ordered by deadline.
  struct sleeper *s = &queue[(head + count++) % MAX_FDS];
  s->fd = fd;
  s->close = closing;
  s->deadline = now_ns() + delay_ns;
}

static void wake_due(void) {
  int64_t now = now_ns();
  while (count && queue[head].deadline <= now) {
    struct sleeper *s = &queue[head];
    head = (head + 1) % MAX_FDS;
    count--;
    answer(s->fd, s->close);
  }
}

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: %s PORT [DELAY_MS]\n", argv[0]);
    return 2;
  }
  delay_ns = (argc == 3 ? atoll(argv[2]) : 100) * 1000000LL;
  const char *body = delay_ns ? "slept\n" : "Hello World\n";
  const char *fmt =
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n%s\r\n%s";
  keep_len = snprintf(keep, sizeof keep, fmt, strlen(body), "", body);
  close_len = snprintf(closing_resp, sizeof closing_resp, fmt, strlen(body),
                       "Connection: close\r\n", body);
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1, defer = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  // Deferred accept (as this project's listener and nginx's `deferred`): accept4() returns a
  // connection once its request has arrived, so it is read at once, without an epoll round trip.
  setsockopt(lfd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer, sizeof defer);
  // Accepted sockets inherit TCP_NODELAY from the listening one (as in this project's
  // listener): no setsockopt() per connection.
  setsockopt(lfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1]))};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(lfd, 1024) < 0) {
    perror("c_ceiling: bind/listen");
    return 1;
  }
  ep = epoll_create1(0);
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
        on_request(fd);
        continue;
      }
      for (;;) {  // every pending connection per wakeup
        int c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
        if (c < 0) break;
        if (c >= MAX_FDS) {
          close(c);
          continue;
        }
        on_request(c);  // deferred accept: the request is (almost always) there already
      }
    }
    wake_due();
  }
}
