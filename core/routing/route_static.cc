// The `static:` routing action: the static-files subsystem serves the named file (mime type,
// validators -> 304, ranges, gzip siblings, offloading); a missing one is a 404 here, as the
// rule named it (uWSGI closes the connection).
#include "log/log.h"
#include "routing/route_table.h"
#include "static/static_files.h"

namespace uwsgi {

void route_serve_file(Request& req, const RequestHead& head, const std::string& path) {
  (void)head;
  switch (serve_static_file(req, path)) {
    case StaticResult::kServed:
    case StaticResult::kRefused:  // answered 403 and logged
      return;
    case StaticResult::kNotFound:
      log_line("routing: static:%s: no such file", path.c_str());
      route_answer(req, 404, http_reason(404), {}, http_reason(404));
      return;
  }
}

}  // namespace uwsgi
