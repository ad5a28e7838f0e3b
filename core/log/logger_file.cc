// file:PATH and stdio loggers: one write() per line, as the default log (O_APPEND, so the lines of
// several processes never interleave). A file logger follows log rotation (see follow_rotation).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <ctime>

#include <cerrno>
#include <cstring>

#include "log/loggers.h"

namespace uwsgi {

namespace {

class FdLogger : public Logger {
 public:
  FdLogger(int fd, bool owned, std::string path = "") : fd_(fd), owned_(owned), path_(std::move(path)) {}
  ~FdLogger() override {
    if (owned_) close(fd_);
  }
  void write(std::string_view data) override {
    if (!path_.empty()) follow_rotation();
    ssize_t r = ::write(fd_, data.data(), data.size());
    if (r < 0) dropped(errno);
  }

 private:
  // logrotate renames the file (then touches --touch-logreopen or sends 'l' to the master fifo):
  // at most once a second, each process sees that the path names another file (or none) and
  // opens it again, so every worker's lines go to the new file, not only the master's.
  void follow_rotation() {
    timespec now;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
    int64_t now_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000, due = next_check_ms_.load();
    if (now_ms < due || !next_check_ms_.compare_exchange_strong(due, now_ms + 1000)) return;
    struct stat named, open_file;
    if (stat(path_.c_str(), &named) == 0 && fstat(fd_, &open_file) == 0 && named.st_ino == open_file.st_ino &&
        named.st_dev == open_file.st_dev)
      return;
    int fd = open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return;  // keeps writing to the file it has
    dup3(fd, fd_, O_CLOEXEC);  // atomic for the other threads writing to fd_
    close(fd);
  }

  int fd_;
  bool owned_;
  std::string path_;
  std::atomic<int64_t> next_check_ms_{0};
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
  return std::make_unique<FdLogger>(fd, true, path);
}

// As uWSGI's stdio logger: the process's standard output.
std::unique_ptr<Logger> make_stdio_logger() { return std::make_unique<FdLogger>(1, false); }

}  // namespace uwsgi
