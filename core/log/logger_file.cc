// file:PATH and stdio loggers: one write() per line, as the default log (O_APPEND, so the lines of
// several processes never interleave).
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "log/loggers.h"

namespace uwsgi {

namespace {

class FdLogger : public Logger {
 public:
  FdLogger(int fd, bool owned) : fd_(fd), owned_(owned) {}
  ~FdLogger() override {
    if (owned_) close(fd_);
  }
  void write(std::string_view data) override {
    ssize_t r = ::write(fd_, data.data(), data.size());
    if (r < 0) dropped(errno);
  }

 private:
  int fd_;
  bool owned_;
};

}  // namespace

std::unique_ptr<Logger> make_file_logger(const std::string& path, std::string* err) {
  if (path.empty()) {
    *err = "file: wants a path (file:/var/log/app.log)";
    return nullptr;
  }
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    *err = "cannot open " + path + ": " + strerror(errno);
    return nullptr;
  }
  return std::make_unique<FdLogger>(fd, true);
}

// As uWSGI's stdio logger: the process's standard output.
std::unique_ptr<Logger> make_stdio_logger() { return std::make_unique<FdLogger>(1, false); }

}  // namespace uwsgi
