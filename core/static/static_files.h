// Static files: a request whose PATH_INFO falls under a static-map / static-map2 / check-static
// mount is answered from the disk (never through the app), with validators (ETag,
// Last-Modified -> 304), ranges (--honour-range -> 206/416), gzip siblings and expiry headers.
// Bodies go out with Request::sendfile(), which hands big ones to the offload threads.
#pragma once

#include <uwsgi/plugin.h>

#include <string>

namespace uwsgi {

enum class StaticResult {
  kNotFound,  // nothing there (or not servable): nothing was sent, the caller answers
  kServed,    // answered (200, 206, 304, 416, or HEAD)
  kRefused,   // the path leaves its root (or holds a NUL): answered 403 and logged
};

// The static mounts' turn for this request (GET/HEAD only): true when it was answered.
bool serve_static_request(Request& req);

// Serves the file at `path` (a directory: its --static-index files) as this request's response.
// `root` (resolved) is the directory it must stay inside after symlinks, unless --static-safe
// allows where it lands; empty: no containment check (a route's static: action names a file).
StaticResult serve_static_file(Request& req, const std::string& path, const std::string& root = {});

}  // namespace uwsgi
