// For loop engines that give a connection a core (a fiber, a greenlet) only once its whole
// request head has arrived, so clients that trickle a head (slowloris) wait outside the cores.
// peek_request_head() looks at what is queued on a connection without consuming it.
// Header-only, so the core's async loop and a loop-engine plugin (gevent) share it.
#pragma once

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstddef>

namespace uwsgi {

enum class HeadPeek {
  kNothing,    // no bytes yet
  kPartial,    // part of a head, the peer still sending
  kComplete,   // a whole HTTP head or uwsgi packet header+vars (or more than fits the peek)
  kGone,       // the peer closed (or reset) before sending anything
  kAbandoned,  // the peer closed after part of a head: it can never complete
};

// A whole HTTP head or uwsgi packet header+vars is in buf (either reading is fine: a false
// positive only hands the connection to a core early, which then reads as usual).
inline bool request_head_complete(const char* buf, size_t n) {
  if (n >= 4 && n >= 4 + ((size_t)(unsigned char)buf[1] | ((size_t)(unsigned char)buf[2] << 8))) return true;
  for (size_t i = 0; i + 1 < n; i++)
    if (buf[i] == '\n' && (buf[i + 1] == '\n' || (buf[i + 1] == '\r' && i + 2 < n && buf[i + 2] == '\n')))
      return true;
  return false;
}

inline HeadPeek peek_request_head(int fd) {
  static thread_local char buf[16384];
  ssize_t n = ::recv(fd, buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) return HeadPeek::kGone;
  if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? HeadPeek::kNothing : HeadPeek::kGone;
  if ((size_t)n == sizeof buf || request_head_complete(buf, (size_t)n)) return HeadPeek::kComplete;
  // A peek returns the queued bytes even after the peer's FIN: ask for the half-close itself,
  // so an abandoned head is closed now rather than at its deadline.
  pollfd p{fd, POLLRDHUP, 0};
  if (::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR))) return HeadPeek::kAbandoned;
  return HeadPeek::kPartial;
}

}  // namespace uwsgi
