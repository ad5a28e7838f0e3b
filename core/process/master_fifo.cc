#include "process/master_fifo.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "config/options.h"
#include "log/log.h"

namespace uwsgi {

void register_master_fifo_options(HostImpl& host) {
  host.add_option(make_option("master-fifo", 0, OptArg::Required,
                              "read one-letter commands (r R c q Q w W s l L p P + - 0-9) from this named pipe "
                              "(repeatable: the first is active, '1'..'9' switch)"));
}

MasterFifo::~MasterFifo() {
  for (int fd : fds_)
    if (fd >= 0) close(fd);
}

bool MasterFifo::open(const std::vector<std::string>& paths, std::string* err) {
  if (paths.size() > 10) {
    *err = "--master-fifo: at most 10 fifos (slots 0..9)";
    return false;
  }
  for (auto& p : paths) {
    struct stat st;
    if (lstat(p.c_str(), &st) == 0) {
      if (!S_ISFIFO(st.st_mode)) {
        *err = "--master-fifo " + p + ": exists and is not a fifo";
        return false;
      }
      unlink(p.c_str());  // a stale one: what was written there was meant for a master now gone
    }
    if (mkfifo(p.c_str(), 0600) != 0) {
      *err = "--master-fifo " + p + ": mkfifo: " + strerror(errno);
      return false;
    }
    // Read-write: the master holds a writer itself, so a client closing never leaves the fifo at
    // EOF (which poll() would report forever).
    int fd = ::open(p.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
      *err = "--master-fifo " + p + ": open: " + strerror(errno);
      return false;
    }
    paths_.push_back(p);
    fds_.push_back(fd);
    log_line("master fifo %zu: %s", fds_.size() - 1, p.c_str());
  }
  return true;
}

std::string MasterFifo::read_commands() {
  std::string out;
  int fd = this->fd();
  if (fd < 0) return out;
  char buf[256];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) {
    for (ssize_t i = 0; i < n; i++) {
      char c = buf[i];
      if (c == '\n' || c == '\r' || c == ' ' || c == '\t') continue;
      if (c >= '0' && c <= '9') {
        size_t slot = (size_t)(c - '0');
        if (slot >= fds_.size()) {
          log_line("master fifo: no slot %zu (%zu fifo(s) given)", slot, fds_.size());
        } else if (slot != active_) {
          active_ = slot;
          log_line("master fifo: slot %zu (%s) is now active", slot, paths_[slot].c_str());
        }
        continue;
      }
      out += c;
    }
    if (fd != this->fd()) break;  // the slot changed: the rest waits on the old fifo
  }
  return out;
}

}  // namespace uwsgi
