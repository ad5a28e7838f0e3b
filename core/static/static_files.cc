// Finding the file: which mount a URI falls under, resolving it (realpath) and keeping it inside
// its root, directories and their --static-index files, --static-skip-ext.
#include "static/static_files.h"

#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "log/log.h"
#include "shared/shared_state.h"
#include "static/static_config.h"
#include "static/static_response.h"

namespace uwsgi {

namespace {

bool path_under(const std::string& path, const std::string& root) {
  if (root.empty()) return false;
  if (path.size() < root.size() || path.compare(0, root.size(), root) != 0) return false;
  return path.size() == root.size() || root.back() == '/' || path[root.size()] == '/';
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

void refuse(Request& req, const std::string& why) {
  std::string_view uri = req.find_var("REQUEST_URI");
  log_line("static: refused %.*s: %s", (int)uri.size(), uri.data(), why.c_str());
  static const char body[] = "Forbidden\n";
  req.managed_response();  // --error-page-403 replaces the body
  if (req.start_response("403 Forbidden", {{"Content-Type", "text/plain"}, {"Content-Length", "10"}}))
    req.write(body, sizeof body - 1);
}

// --static-cache-paths: the cache that maps a mapped path (mount directory + PATH_INFO) to the
// regular file it resolved to (index files included), so that a hit skips realpath() and the
// containment checks, as uWSGI's option does. Caches are made before workers fork.
Cache* path_cache(const StaticConfig& c) {
  static Cache* cache = c.cache_paths_s > 0 ? shared_caches().find(c.cache_paths_name) : nullptr;
  return cache;
}

StaticResult serve_resolved(Request& req, const StaticConfig& c, const std::string& path, const std::string& root,
                            int depth, const std::string* cache_key = nullptr) {
  char buf[PATH_MAX];
  if (!realpath(path.c_str(), buf)) return StaticResult::kNotFound;  // ENOENT, ENOTDIR, EACCES...
  std::string real = buf;
  if (!static_path_allowed(c, real, root)) {
    refuse(req, path + " resolves to " + real + ", outside " + root);
    return StaticResult::kRefused;
  }
  struct stat st;
  if (stat(real.c_str(), &st) != 0) return StaticResult::kNotFound;
  if (S_ISDIR(st.st_mode)) {
    if (depth > 0) return StaticResult::kNotFound;  // an index that is itself a directory
    for (auto& idx : c.index) {
      StaticResult r = serve_resolved(req, c, real + "/" + idx, root, depth + 1, cache_key);
      if (r != StaticResult::kNotFound) return r;
    }
    return StaticResult::kNotFound;
  }
  if (!S_ISREG(st.st_mode)) return StaticResult::kNotFound;
  for (auto& ext : c.skip_ext)
    if (ends_with(real, ext)) return StaticResult::kNotFound;
  if (cache_key) {
    std::string e;
    (void)path_cache(c)->set(*cache_key, real, (uint64_t)c.cache_paths_s, true, &e);  // full or too long: not kept
  }
  return send_static_file(req, c, real, root, st);
}

}  // namespace

bool static_path_allowed(const StaticConfig& c, const std::string& real, const std::string& root) {
  if (root.empty() || path_under(real, root)) return true;
  for (auto& s : c.safe)
    if (path_under(real, s)) return true;
  return false;
}

StaticResult serve_static_file(Request& req, const std::string& path, const std::string& root) {
  return serve_resolved(req, static_settings(), path, root, 0);
}

bool serve_static_request(Request& req) {
  const StaticConfig* c = static_config();
  if (!c) return false;
  std::string_view method = req.find_var("REQUEST_METHOD");
  if (method != "GET" && method != "HEAD") return false;
  std::string_view path_info = req.find_var("PATH_INFO");
  for (auto& m : c->mounts) {
    if (!m.prefix.empty() && path_info.substr(0, m.prefix.size()) != m.prefix) continue;
    if (path_info.find('\0') != std::string_view::npos) {  // %00 decoded: never a file name
      refuse(req, "NUL byte in the path");
      return true;
    }
    std::string dir = m.dir, root = m.root;
    if (dir.empty()) {  // --check-static-docroot
      dir = std::string(req.find_var("DOCUMENT_ROOT"));
      if (dir.empty()) continue;
      char buf[PATH_MAX];
      if (!realpath(dir.c_str(), buf)) continue;
      root = buf;
    } else if (root.empty()) {  // the directory did not exist at start-up
      char buf[PATH_MAX];
      if (!realpath(dir.c_str(), buf)) continue;
      root = buf;
    }
    std::string path = dir;
    path.append(m.append_prefix ? path_info : path_info.substr(m.prefix.size()));
    Cache* pc = path_cache(*c);
    if (pc) {
      std::string real;
      struct stat st;
      if (pc->get(path, &real)) {
        if (stat(real.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
          send_static_file(req, *c, real, root, st);
          return true;
        }
        pc->del(path);  // gone since: resolved again below
      }
    }
    if (serve_resolved(req, *c, path, root, 0, pc ? &path : nullptr) != StaticResult::kNotFound) return true;
  }
  return false;
}

}  // namespace uwsgi
