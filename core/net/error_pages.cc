#include "net/error_pages.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "config/options.h"
#include "host.h"

namespace uwsgi {

namespace {

constexpr int kStatuses[] = {403, 404, 500};

// Read once before the workers fork, never changed after: read without a lock.
struct ErrorPage {
  bool set = false;
  std::string body;
};
ErrorPage pages[3];

int slot(int status) {
  for (int i = 0; i < 3; i++)
    if (kStatuses[i] == status) return i;
  return -1;
}

// The whole regular file at path; false with *err when it cannot be.
bool read_file(const std::string& path, std::string* out, std::string* err) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *err = strerror(errno);
    return false;
  }
  struct stat st;
  bool ok = fstat(fd, &st) == 0;
  if (ok && !S_ISREG(st.st_mode)) {
    close(fd);
    *err = "not a regular file";
    return false;
  }
  out->clear();
  char buf[16384];
  ssize_t n;
  while (ok && (n = ::read(fd, buf, sizeof buf)) != 0) {
    if (n < 0) {
      if (errno == EINTR) continue;
      ok = false;
      break;
    }
    out->append(buf, (size_t)n);
  }
  if (!ok) *err = strerror(errno);
  close(fd);
  return ok;
}

}  // namespace

void register_error_page_options(HostImpl& host) {
  host.add_option(make_option("error-page-403", 0, OptArg::Required,
                              "an HTML file: the body of the server's own 403 answers (Content-Type text/html)"));
  host.add_option(make_option("error-page-404", 0, OptArg::Required,
                              "an HTML file: the body of the server's own 404 answers (Content-Type text/html)"));
  host.add_option(make_option("error-page-500", 0, OptArg::Required,
                              "an HTML file: the body of the server's own 500 answers (Content-Type text/html)"));
}

bool read_error_pages(const Config& cfg, std::string* err) {
  for (int i = 0; i < 3; i++) {
    std::string opt = "error-page-" + std::to_string(kStatuses[i]);
    pages[i] = ErrorPage{};
    if (!cfg.has(opt)) continue;
    std::string path = cfg.get(opt);
    if (!read_file(path, &pages[i].body, err)) {
      *err = "--" + opt + " " + path + ": " + *err;
      return false;
    }
    pages[i].set = true;
  }
  return true;
}

const std::string* error_page(int status) {
  int i = slot(status);
  return i >= 0 && pages[i].set ? &pages[i].body : nullptr;
}

}  // namespace uwsgi
