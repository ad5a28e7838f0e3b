// Answering for one resolved regular file: headers (type, validators, expiry, gzip sibling),
// conditionals (304), ranges (206/416), then the body by sendfile (or an X-Sendfile header).
#pragma once

#include <sys/stat.h>
#include <time.h>
#include <uwsgi/plugin.h>

#include <string>
#include <string_view>

#include "static/static_config.h"
#include "static/static_files.h"

namespace uwsgi {

StaticResult send_static_file(Request& req, const StaticConfig& c, const std::string& real, const std::string& root,
                              const struct stat& st);

// Is `real` (resolved) inside `root`, or inside a --static-safe directory? (root empty: yes)
bool static_path_allowed(const StaticConfig& c, const std::string& real, const std::string& root);

// RFC 9110 dates (IMF-fixdate), locale-free.
std::string http_date(time_t t);
bool parse_http_date(std::string_view s, time_t* out);

// A "Range: bytes=..." value against a body of `size` bytes. kWhole: ignore it (bad syntax or
// several ranges: the whole body is a valid answer), kPartial: [*first, *last], kUnsatisfiable: 416.
enum class RangeResult { kWhole, kPartial, kUnsatisfiable };
RangeResult parse_byte_range(std::string_view value, long long size, long long* first, long long* last);

// Does this Accept-Encoding value accept gzip (listed, not with q=0)?
bool accepts_gzip(std::string_view accept_encoding);

}  // namespace uwsgi
