// --post-buffering N: the whole request body is read before the app is called, into memory up to
// N bytes and into an unlinked temp file past that, so a slow client never holds the app and
// wsgi.input can seek. Reading goes through Request::read(): under async or gevent only the
// request's own core waits. De-chunked bodies are buffered the same way.
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <memory>

#include "py_opts.h"

namespace uwsgi::py {
namespace {

long long limit = 0;      // --post-buffering: bytes kept in memory; 0 = off
long long bufsize = 8192; // --post-buffering-bufsize: one read()'s size

// A size in bytes. uWSGI reads these with strtoul, so "true" is 0 (off): the same here, said once.
bool parse_size(std::string_view v, const char* name, long long* out, std::string* err) {
  std::string s(v);
  if (s == "true" || s == "yes" || s == "on") {
    log_line("python: --%s %s is 0 bytes for uWSGI too: it stays off (give a size in bytes)", name, s.c_str());
    *out = 0;
    return true;
  }
  char* end = nullptr;
  errno = 0;
  long long n = strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end != 0 || errno || n < 0) {
    *err = "wants a size in bytes, not \"" + s + "\"";
    return false;
  }
  *out = n;
  return true;
}

// An unlinked temp file in $TMPDIR (or /tmp); -1 with errno.
int temp_file() {
  const char* dir = getenv("TMPDIR");
  std::string path = std::string(dir && *dir ? dir : "/tmp") + "/uwsgi-body-XXXXXX";
  int fd = mkostemp(path.data(), O_CLOEXEC);
  if (fd >= 0) unlink(path.c_str());
  return fd;
}

bool write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= (size_t)w;
  }
  return true;
}

bool log_failure(Request& req, const std::string& why) {
  std::string what(req.find_var("REQUEST_METHOD"));
  what += ' ';
  what += req.find_var("REQUEST_URI");
  log_line("python: reading the request body (--post-buffering) of %s failed: %s", what.c_str(), why.c_str());
  return false;
}

}  // namespace

void register_post_buffer_options(Host& host) {
  add_py_option(host, "post-buffering", OptArg::Required,
                "read the request body before calling the app: into memory up to N bytes, into a temp file past it",
                [](std::string_view v, std::string* err) { return parse_size(v, "post-buffering", &limit, err); });
  add_py_option(host, "post-buffering-bufsize", OptArg::Required,
                "bytes per read() while post-buffering into a temp file or a body of unknown length (default 8192)",
                [](std::string_view v, std::string* err) {
                  if (!parse_size(v, "post-buffering-bufsize", &bufsize, err)) return false;
                  if (bufsize < 1 || bufsize > (64 << 20)) {
                    *err = "must be between 1 and 67108864 bytes";
                    return false;
                  }
                  return true;
                });
}

bool post_buffering_on() { return limit > 0; }

bool post_buffer(Request& req, PyObject* input) {
  long long cl = req.content_length();
  if (limit <= 0 || cl == 0) return true;
  // In memory, reads go straight into the body's buffer: a bytes object of CONTENT_LENGTH that
  // wsgi.input.read() then returns without a copy, or a growing buffer for a chunked body. Past
  // the limit, bufsize pieces go to the temp file.
  PyObject* bytes = cl > 0 && cl <= limit ? PyBytes_FromStringAndSize(nullptr, cl) : nullptr;
  if (bytes == nullptr && PyErr_Occurred()) {
    PyErr_Clear();
    return log_failure(req, "out of memory");
  }
  char* mem = nullptr;
  size_t len = 0, cap = 0;
  std::unique_ptr<char[]> chunk;
  int fd = -1;
  std::string failed;
  auto io_error = [](const char* what) { return std::string(what) + ": " + strerror(errno); };
  auto to_file = [&]() {
    if ((fd = temp_file()) < 0) return false;
    chunk.reset(new char[bufsize]);
    return true;
  };
  if (bytes) {
    mem = PyBytes_AS_STRING(bytes);
    cap = (size_t)cl;
  } else if (cl > limit ? !to_file() : !(mem = static_cast<char*>(malloc(cap = (size_t)bufsize)))) {
    failed = cl > limit ? io_error("cannot create a temp file") : "out of memory";
  }
  while (failed.empty()) {
    if (fd < 0 && len == cap) {
      if (cl >= 0) break;  // the whole CONTENT_LENGTH is in
      size_t ncap = std::min<size_t>(std::max<size_t>(cap * 2, (size_t)bufsize), (size_t)limit + 1);
      char* nb = static_cast<char*>(realloc(mem, ncap));
      if (!nb) {
        failed = "out of memory";
        break;
      }
      mem = nb;
      cap = ncap;
    }
    ssize_t n = fd < 0 ? req.read(mem + len, cap - len) : req.read(chunk.get(), (size_t)bufsize);
    if (n < 0) {
      failed = req.error() && *req.error() ? req.error() : "client gone";
      break;
    }
    if (n == 0) break;
    if (fd >= 0) {
      if (!write_all(fd, chunk.get(), (size_t)n)) failed = io_error("cannot write a temp file");
    } else if ((len += (size_t)n) > (size_t)limit) {  // an unknown length went past the limit
      if (!to_file() || !write_all(fd, mem, len)) failed = io_error("cannot write a temp file");
      free(mem);
      mem = nullptr;
    }
  }
  if (failed.empty() && bytes && len < (size_t)cl) failed = "the body ended before its CONTENT_LENGTH";
  long long total = fd >= 0 ? (long long)lseek(fd, 0, SEEK_END) : (long long)len;
  if (failed.empty() && fd >= 0 && (total < 0 || lseek(fd, 0, SEEK_SET) < 0))
    failed = io_error("cannot rewind the temp file");
  if (!failed.empty()) {
    if (bytes)
      Py_DECREF(bytes);
    else
      free(mem);
    if (fd >= 0) close(fd);
    return log_failure(req, failed);
  }
  if (fd >= 0)
    input_set_file(input, fd, total);
  else if (bytes)
    input_set_bytes(input, bytes);
  else
    input_set_memory(input, mem, len);
  return true;
}

}  // namespace uwsgi::py
