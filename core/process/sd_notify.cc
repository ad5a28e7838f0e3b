#include "process/sd_notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "log/log.h"

namespace uwsgi {

bool sd_notify_enabled() {
  const char* path = getenv("NOTIFY_SOCKET");
  return path && *path;
}

void sd_notify(const std::string& state) {
  const char* path = getenv("NOTIFY_SOCKET");
  if (!path || !*path) return;
  static bool warned = false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  size_t len = strlen(path);
  if (len >= sizeof addr.sun_path) {
    if (!warned) log_line("NOTIFY_SOCKET %s: path too long: no systemd notifications", path);
    warned = true;
    return;
  }
  memcpy(addr.sun_path, path, len);
  if (path[0] == '@') addr.sun_path[0] = '\0';  // the abstract namespace: no terminating NUL counted
  socklen_t alen = (socklen_t)(offsetof(sockaddr_un, sun_path) + len + (path[0] == '@' ? 0 : 1));
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  ssize_t n = sendto(fd, state.data(), state.size(), MSG_NOSIGNAL, (sockaddr*)&addr, alen);
  if (n < 0 && !warned) {
    log_line("systemd notification to NOTIFY_SOCKET %s failed: %s", path, strerror(errno));
    warned = true;
  }
  close(fd);
}

}  // namespace uwsgi
