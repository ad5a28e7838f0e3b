#include "process/emperor_link.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "process/supervised_process.h"

namespace uwsgi {

bool is_vassal() {
  const char* v = getenv("UWSGI_EMPEROR_FD");
  return v && *v;
}

bool EmperorLink::open() {
  const char* v = getenv("UWSGI_EMPEROR_FD");
  if (!v || !*v) return false;
  char* end = nullptr;
  long fd = strtol(v, &end, 10);
  if (*end || fd < 0 || fcntl((int)fd, F_GETFD) < 0) return false;
  fd_ = (int)fd;
  fcntl(fd_, F_SETFL, fcntl(fd_, F_GETFL) | O_NONBLOCK);
  add_master_only_fd(fd_);  // workers and the other children never see the Emperor's commands
  return true;
}

void EmperorLink::send(uint8_t msg) {
  if (fd_ >= 0 && !lost_) (void)::send(fd_, &msg, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
}

EmperorLink::Command EmperorLink::read() {
  if (fd_ < 0 || lost_) return Command::kNone;
  Command c = Command::kNone;
  uint8_t buf[64];
  for (;;) {
    ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n == 0) {
      lost_ = true;  // the fd stays open: its number is on the master-only list
      return Command::kLost;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      return c;
    }
    for (ssize_t i = 0; i < n; i++) {
      if (buf[i] == emperor_msg::kStop) c = Command::kStop;
      else if (buf[i] == emperor_msg::kReload && c != Command::kStop) c = Command::kReload;
    }
  }
}

}  // namespace uwsgi
