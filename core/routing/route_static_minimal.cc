// ---------------------------------------------------------------------------------------------
// MINIMAL FILE SENDING FOR THE `static:` ROUTING ACTION, until the static-files subsystem
// (static-map, offload-threads) is merged: at the merge, route_serve_file() becomes a call to
// its function (mime types, conditional requests, ranges, offloading). Kept to open + fstat +
// sendfile on purpose.
// ---------------------------------------------------------------------------------------------
#include <fcntl.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "log/log.h"
#include "routing/route_table.h"

namespace uwsgi {

static const char* guess_type(const std::string& path) {
  static const struct {
    const char* ext;
    const char* type;
  } kTypes[] = {{".html", "text/html"}, {".htm", "text/html"}, {".css", "text/css"},
                {".js", "application/javascript"}, {".json", "application/json"}, {".txt", "text/plain"},
                {".png", "image/png"}, {".jpg", "image/jpeg"}, {".jpeg", "image/jpeg"}, {".gif", "image/gif"},
                {".svg", "image/svg+xml"}, {".ico", "image/x-icon"}, {".pdf", "application/pdf"},
                {".xml", "application/xml"}, {".woff2", "font/woff2"}};
  size_t dot = path.rfind('.');
  if (dot == std::string::npos || path.find('/', dot) != std::string::npos) return nullptr;
  for (auto& t : kTypes)
    if (strcasecmp(path.c_str() + dot, t.ext) == 0) return t.type;
  return nullptr;
}

void route_serve_file(Request& req, const RequestHead& head, const std::string& path) {
  (void)head;
  int fd = path.empty() || path.find('\0') != std::string::npos ? -1 : open(path.c_str(), O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    int e = errno;
    if (fd >= 0) close(fd);
    log_line("routing: static:%s: %s", path.c_str(), fd < 0 ? strerror(e) : "not a regular file");
    int status = fd < 0 && e == EACCES ? 403 : 404;
    route_answer(req, status, http_reason(status), {}, http_reason(status));
    return;
  }
  HeaderList h;
  if (const char* t = guess_type(path)) h.emplace_back("Content-Type", t);
  h.emplace_back("Content-Length", std::to_string((long long)st.st_size));
  h.emplace_back("Last-Modified", http_date((long long)st.st_mtime));
  if (req.start_response("200 OK", h) && st.st_size > 0) req.sendfile(fd, 0, (size_t)st.st_size);
  close(fd);
}

}  // namespace uwsgi
