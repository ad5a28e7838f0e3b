#include "net/connect_and_read.h"

#include <netdb.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "config/options.h"

namespace uwsgi {

void register_connect_and_read_option(HostImpl& host) {
  host.add_option(make_option("connect-and-read", 0, OptArg::Required,
                              "connect to a socket (unix path or host:port), print what it sends until it closes, and "
                              "exit (e.g. a --py-tracebacker socket)"));
}

static int connect_to(const std::string& addr, std::string* err) {
  size_t colon = addr.rfind(':');
  if (addr.find('/') != std::string::npos || colon == std::string::npos) {
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    if (addr.size() >= sizeof sun.sun_path) {
      *err = "unix socket path too long";
      return -1;
    }
    memcpy(sun.sun_path, addr.c_str(), addr.size());
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (sockaddr*)&sun, sizeof sun) == 0) return fd;
    *err = strerror(errno);
    if (fd >= 0) close(fd);
    return -1;
  }
  std::string host = addr.substr(0, colon), port = addr.substr(colon + 1);
  if (host.empty()) host = "127.0.0.1";
  addrinfo hints{}, *res = nullptr;
  hints.ai_socktype = SOCK_STREAM;
  if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0) {
    *err = gai_strerror(rc);
    return -1;
  }
  int fd = -1;
  for (addrinfo* ai = res; ai && fd < 0; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
      *err = strerror(errno);
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(res);
  return fd;
}

bool connect_and_read_if_asked(const Config& cfg, int* rc) {
  if (!cfg.has("connect-and-read")) return false;
  std::string addr = cfg.get("connect-and-read"), err;
  int fd = connect_to(addr, &err);
  if (fd < 0) {
    fprintf(stderr, "uwsgi: --connect-and-read %s: %s\n", addr.c_str(), err.c_str());
    *rc = 1;
    return true;
  }
  char buf[16384];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n) break;
  }
  fflush(stdout);
  close(fd);
  *rc = 0;
  return true;
}

}  // namespace uwsgi
