#include "net/listener.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "config/values.h"

namespace uwsgi {

static bool is_unix_spec(const std::string& s) {
  return s.find('/') != std::string::npos || s.find(':') == std::string::npos;
}

// The buffer sizes and send timeout asked for, on any kind of socket (before bind, as uWSGI).
static bool set_buffer_options(int fd, const ListenOptions& opt, std::string* err) {
  auto set = [&](int name, const void* v, socklen_t len, const char* what) {
    if (setsockopt(fd, SOL_SOCKET, name, v, len) == 0) return true;
    *err = std::string(what) + ": " + strerror(errno);
    return false;
  };
  if (opt.sndbuf > 0 && !set(SO_SNDBUF, &opt.sndbuf, sizeof opt.sndbuf, "--socket-sndbuf")) return false;
  if (opt.rcvbuf > 0 && !set(SO_RCVBUF, &opt.rcvbuf, sizeof opt.rcvbuf, "--socket-rcvbuf")) return false;
  if (opt.send_timeout_s > 0) {
    timeval tv{opt.send_timeout_s, 0};
    if (!set(SO_SNDTIMEO, &tv, sizeof tv, "--so-send-timeout")) return false;
  }
  return true;
}

bool bind_listener(const std::string& spec, Protocol proto, const ListenOptions& opt, Listener* out,
                   std::string* err) {
  out->spec = spec;
  out->proto = proto;
  int fd = -1;
  if (!check_socket_address(spec, err)) {
    *err = spec + ": " + *err;
    return false;
  }
  if (is_unix_spec(spec)) {
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    if (spec.size() >= sizeof sun.sun_path) {
      *err = "unix socket path too long: " + spec;
      return false;
    }
    memcpy(sun.sun_path, spec.c_str(), spec.size());
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    unlink(spec.c_str());  // a stale socket file from an earlier run
    if (fd >= 0 && !set_buffer_options(fd, opt, err)) {
      close(fd);
      return false;
    }
    if (fd < 0 || bind(fd, (sockaddr*)&sun, sizeof sun) != 0) {
      *err = "cannot bind unix socket " + spec + ": " + strerror(errno);
      if (fd >= 0) close(fd);
      return false;
    }
    if (opt.chmod >= 0) chmod(spec.c_str(), opt.chmod);
    if ((opt.owner_uid >= 0 || opt.owner_gid >= 0) && chown(spec.c_str(), opt.owner_uid, opt.owner_gid) != 0) {
      *err = "cannot chown unix socket " + spec + ": " + strerror(errno);
      close(fd);
      return false;
    }
    out->unix_path = spec;
  } else {
    size_t colon = spec.rfind(':');
    std::string host = spec.substr(0, colon), port = spec.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    addrinfo hints{}, *res = nullptr;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int rc = getaddrinfo(host.empty() ? "0.0.0.0" : host.c_str(), port.c_str(), &hints, &res);
    if (rc != 0 || !res) {
      *err = "cannot resolve socket address " + spec + ": " + gai_strerror(rc);
      return false;
    }
    fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (opt.reuse_port) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (opt.so_keepalive) setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    // IP_FREEBIND covers IPv6 sockets too on Linux.
    if (fd >= 0 && opt.freebind) setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof one);
    if (fd >= 0 && !set_buffer_options(fd, opt, err)) {
      freeaddrinfo(res);
      close(fd);
      return false;
    }
    if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) != 0) {
      *err = "cannot bind " + spec + ": " + strerror(errno);
      freeaddrinfo(res);
      if (fd >= 0) close(fd);
      return false;
    }
    freeaddrinfo(res);
    // Accepted sockets inherit TCP_NODELAY from the listener: no setsockopt per connection.
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    // Connections are handed to a worker only once the request's first bytes are there.
    int defer = 5;
    if (opt.defer_accept) setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer, sizeof defer);
    sockaddr_storage ss{};
    socklen_t sl = sizeof ss;
    getsockname(fd, (sockaddr*)&ss, &sl);
    char hbuf[NI_MAXHOST], sbuf[NI_MAXSERV];
    getnameinfo((sockaddr*)&ss, sl, hbuf, sizeof hbuf, sbuf, sizeof sbuf, NI_NUMERICHOST | NI_NUMERICSERV);
    out->addr = hbuf;
    out->port = sbuf;
  }
  if (listen(fd, opt.backlog) != 0) {
    *err = "cannot listen on " + spec + ": " + strerror(errno);
    close(fd);
    return false;
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  out->fd = fd;
  return true;
}

std::string encode_inherited(const std::vector<Listener>& ls) {
  std::string s;
  for (auto& l : ls) {
    if (!s.empty()) s += ';';
    s += std::to_string(l.fd) + ":" + (l.proto == Protocol::kHttp ? "http" : "uwsgi") + ":" + l.spec;
  }
  return s;
}

bool take_inherited(const std::string& spec, Protocol proto, Listener* out) {
  const char* env = getenv("UWSGI_INHERITED_SOCKETS");
  if (!env) return false;
  std::string all = env;
  size_t i = 0;
  while (i < all.size()) {
    size_t j = all.find(';', i);
    if (j == std::string::npos) j = all.size();
    std::string item = all.substr(i, j - i);
    i = j + 1;
    size_t c1 = item.find(':'), c2 = item.find(':', c1 + 1);
    if (c1 == std::string::npos || c2 == std::string::npos) continue;
    int fd = atoi(item.substr(0, c1).c_str());
    std::string p = item.substr(c1 + 1, c2 - c1 - 1), s = item.substr(c2 + 1);
    if (s != spec || (p == "http") != (proto == Protocol::kHttp)) continue;
    out->fd = fd;
    out->spec = spec;
    out->proto = proto;
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    sockaddr_storage ss{};
    socklen_t sl = sizeof ss;
    getsockname(fd, (sockaddr*)&ss, &sl);
    if (ss.ss_family == AF_UNIX) {
      out->unix_path = spec;
    } else {
      char hbuf[NI_MAXHOST], sbuf[NI_MAXSERV];
      getnameinfo((sockaddr*)&ss, sl, hbuf, sizeof hbuf, sbuf, sizeof sbuf, NI_NUMERICHOST | NI_NUMERICSERV);
      out->addr = hbuf;
      out->port = sbuf;
    }
    return true;
  }
  return false;
}

}  // namespace uwsgi
