#include "static/static_config.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <limits.h>
#include <stdlib.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "config/options.h"
#include "config/values.h"
#include "host.h"
#include "log/log.h"
#include "shared/shared_cache.h"

namespace uwsgi {

StaticRegex::~StaticRegex() {
  if (code_) pcre2_code_free((pcre2_code*)code_);
}

bool StaticRegex::compile(const std::string& pattern, std::string* err) {
  int code = 0;
  PCRE2_SIZE off = 0;
  code_ = pcre2_compile((PCRE2_SPTR)pattern.data(), pattern.size(), 0, &code, &off, nullptr);
  if (!code_) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(code, msg, sizeof msg);
    *err = "bad regular expression \"" + pattern + "\" at offset " + std::to_string(off) + ": " + (char*)msg;
    return false;
  }
  pcre2_jit_compile((pcre2_code*)code_, PCRE2_JIT_COMPLETE);  // best effort: plain matching works too
  return true;
}

bool StaticRegex::match(std::string_view s) const {
  // One match block per thread, sized for any pattern without captures we care about.
  thread_local pcre2_match_data* md = pcre2_match_data_create(16, nullptr);
  return pcre2_match((const pcre2_code*)code_, (PCRE2_SPTR)s.data(), s.size(), 0, 0, md, nullptr) >= 0;
}

void register_static_options(HostImpl& host) {
  const OptArg R = OptArg::Required, N = OptArg::None;
  auto add = [&](const char* name, OptArg a, const char* help, std::vector<std::string> aliases = {},
                 bool numeric = false) { host.add_option(make_option(name, 0, a, help, std::move(aliases), numeric)); };
  add("static-map", R, "serve files: MOUNTPOINT=DIR maps URIs under MOUNTPOINT to DIR (repeatable, first match)");
  add("static-map2", R, "like static-map, but the whole PATH_INFO (mountpoint included) is appended to DIR");
  add("check-static", R, "serve a file if DIR + PATH_INFO exists (repeatable)", {"static-check"});
  add("check-static-docroot", N, "serve a file if DOCUMENT_ROOT + PATH_INFO exists");
  add("static-index", R, "file names tried in a mapped directory (repeatable)");
  add("static-skip-ext", R, "never serve files with this extension as static (repeatable)");
  add("static-safe", R, "a directory static files may resolve into through symlinks (repeatable)");
  add("static-expires-type", R, "MIMETYPE=SECONDS: Expires/Cache-Control for static files of that type");
  add("static-expires-type-mtime", R, "MIMETYPE=SECONDS: expiry counted from the file's mtime");
  add("static-expires", R, "REGEXP=SECONDS: expiry for static files whose path matches");
  add("static-expires-mtime", R, "REGEXP=SECONDS: like static-expires, counted from the file's mtime");
  add("static-expires-uri", R, "REGEXP=SECONDS: expiry for static files whose REQUEST_URI matches");
  add("static-expires-uri-mtime", R, "REGEXP=SECONDS: like static-expires-uri, counted from the file's mtime");
  add("static-expires-path-info", R, "REGEXP=SECONDS: expiry for static files whose PATH_INFO matches");
  add("static-expires-path-info-mtime", R, "REGEXP=SECONDS: like static-expires-path-info, from the mtime");
  add("static-gzip", R, "serve FILE.gz to gzip clients for files whose path matches this REGEXP");
  add("static-gzip-all", N, "serve FILE.gz, when it exists, for every static file to gzip clients");
  add("static-gzip-dir", R, "serve FILE.gz to gzip clients for files under this directory", {"static-gzip-prefix"});
  add("static-gzip-ext", R, "serve FILE.gz to gzip clients for files with this extension", {"static-gzip-suffix"});
  add("mimefile", R, "mime types file (repeatable; default /etc/mime.types)", {"mime-file"});
  add("file-serve-mode", R, "how static files are sent: sendfile (default), x-sendfile or x-accel-redirect",
      {"fileserve-mode"});
  add("honour-range", N, "answer Range requests for static files with 206 Partial Content");
  add("static-cache-paths", R,
      "SECONDS: keep the file each mapped path resolves to in a cache (--cache2) for SECONDS", {}, true);
  add("static-cache-paths-name", R, "the cache --static-cache-paths uses (default: the first one)");
  add("offload-threads", R, "threads per worker that send static files (and file_wrapper bodies) to clients",
      {"offload-thread"}, true);
}

namespace {
StaticConfig g_settings;
bool g_enabled = false;

bool resolve(const std::string& path, std::string* out) {
  char buf[PATH_MAX];
  if (!realpath(path.c_str(), buf)) return false;
  *out = buf;
  return true;
}

// NAME=SECONDS (the name may hold '=': the last one splits, as regexps may contain one).
bool split_seconds(const char* opt, const std::string& v, std::string* name, long long* secs, std::string* err) {
  size_t eq = v.rfind('=');
  long long n = 0;
  if (eq == std::string::npos || eq == 0 || !parse_count(std::string_view(v).substr(eq + 1), &n)) {
    *err = std::string("--") + opt + " wants NAME=SECONDS, not \"" + v + "\"";
    return false;
  }
  *name = v.substr(0, eq);
  *secs = n;
  return true;
}

void load_builtin_mime(std::unordered_map<std::string, std::string>* m) {
  static const char* const kTypes[][2] = {
      {"html", "text/html"}, {"htm", "text/html"}, {"css", "text/css"}, {"js", "text/javascript"},
      {"json", "application/json"}, {"txt", "text/plain"}, {"png", "image/png"}, {"jpg", "image/jpeg"},
      {"jpeg", "image/jpeg"}, {"gif", "image/gif"}, {"svg", "image/svg+xml"}, {"ico", "image/vnd.microsoft.icon"},
      {"webp", "image/webp"}, {"woff", "font/woff"}, {"woff2", "font/woff2"}, {"pdf", "application/pdf"},
      {"xml", "application/xml"}, {"wasm", "application/wasm"}, {"mp4", "video/mp4"}, {"zip", "application/zip"}};
  for (auto& t : kTypes) m->emplace(t[0], t[1]);
}

// "type ext ext ..." lines; '#' comments. The first file that names an extension wins.
bool load_mime_file(const std::string& path, std::unordered_map<std::string, std::string>* m) {
  std::ifstream f(path);
  if (!f) return false;
  std::string line;
  while (std::getline(f, line)) {
    size_t hash = line.find('#');
    if (hash != std::string::npos) line.resize(hash);
    std::istringstream words(line);
    std::string type, ext;
    if (!(words >> type)) continue;
    while (words >> ext) {
      for (auto& c : ext) c = (char)tolower((unsigned char)c);
      m->emplace(ext, type);
    }
  }
  return true;
}
}  // namespace

const StaticConfig* static_config() { return g_enabled ? &g_settings : nullptr; }
const StaticConfig& static_settings() { return g_settings; }

bool read_static_config(const Config& cfg, std::string* err) {
  StaticConfig c;
  auto add_mount = [&](const char* opt, const std::string& prefix, const std::string& dir, bool append) {
    StaticMount m;
    m.prefix = prefix;
    m.dir = dir;
    m.append_prefix = append;
    // A directory that does not exist (yet) is kept: it may appear later, and uWSGI serves
    // nothing from it meanwhile; its root is then checked per request.
    if (!resolve(dir, &m.root)) {
      log_line("static: --%s %s: %s (nothing is served from it until it exists)", opt, dir.c_str(), strerror(errno));
      m.root.clear();
    }
    c.mounts.push_back(std::move(m));
  };
  // uWSGI keeps the order the options came in across static-map, static-map2 and check-static.
  for (auto& [name, value] : cfg.items()) {
    if (name == "static-map" || name == "static-map2") {
      size_t eq = value.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == value.size()) {
        *err = "--" + name + " wants MOUNTPOINT=DIR, not \"" + value + "\"";
        return false;
      }
      add_mount(name.c_str(), value.substr(0, eq), value.substr(eq + 1), name == "static-map2");
    } else if (name == "check-static") {
      if (value.empty()) {
        *err = "--check-static wants a directory";
        return false;
      }
      add_mount("check-static", "", value, true);
    }
  }
  bool docroot = cfg.get_bool("check-static-docroot");
  c.index = cfg.all("static-index");
  c.skip_ext = cfg.all("static-skip-ext");
  for (auto& s : cfg.all("static-safe")) {
    std::string r;
    c.safe.push_back(resolve(s, &r) ? r : s);
  }
  struct ExpiresOpt {
    const char* name;
    StaticExpires::Kind kind;
    bool mtime;
  };
  static const ExpiresOpt kExpires[] = {
      {"static-expires-type", StaticExpires::kType, false},
      {"static-expires-type-mtime", StaticExpires::kType, true},
      {"static-expires", StaticExpires::kFilename, false},
      {"static-expires-mtime", StaticExpires::kFilename, true},
      {"static-expires-uri", StaticExpires::kUri, false},
      {"static-expires-uri-mtime", StaticExpires::kUri, true},
      {"static-expires-path-info", StaticExpires::kPathInfo, false},
      {"static-expires-path-info-mtime", StaticExpires::kPathInfo, true},
  };
  for (auto& o : kExpires)
    for (auto& v : cfg.all(o.name)) {
      StaticExpires e;
      e.kind = o.kind;
      e.from_mtime = o.mtime;
      std::string name;
      if (!split_seconds(o.name, v, &name, &e.seconds, err)) return false;
      if (o.kind == StaticExpires::kType) {
        e.type = name;
      } else {
        e.re = std::make_shared<StaticRegex>();
        if (!e.re->compile(name, err)) {
          *err = std::string("--") + o.name + ": " + *err;
          return false;
        }
      }
      c.expires.push_back(std::move(e));
    }
  c.gzip_all = cfg.get_bool("static-gzip-all");
  for (auto& v : cfg.all("static-gzip")) {
    auto re = std::make_shared<StaticRegex>();
    if (!re->compile(v, err)) {
      *err = "--static-gzip: " + *err;
      return false;
    }
    c.gzip_re.push_back(std::move(re));
  }
  for (auto& d : cfg.all("static-gzip-dir")) {
    std::string r;
    c.gzip_dirs.push_back(resolve(d, &r) ? r : d);
  }
  c.gzip_ext = cfg.all("static-gzip-ext");
  c.honour_range = cfg.get_bool("honour-range");
  std::string mode = cfg.get("file-serve-mode", "sendfile");
  if (mode == "x-sendfile" || mode == "xsendfile") c.mode = FileServeMode::kXSendfile;
  else if (mode == "x-accel-redirect" || mode == "xaccelredirect" || mode == "nginx") c.mode = FileServeMode::kXAccelRedirect;
  else if (mode != "sendfile" && mode != "default" && mode != "offload") {
    *err = "--file-serve-mode must be sendfile, x-sendfile or x-accel-redirect, not \"" + mode + "\"";
    return false;
  }
  long long n;
  if (!get_bounded(cfg, "offload-threads", 0, 0, 256, &n, err)) return false;
  c.offload_threads = (int)n;
  if (!get_bounded(cfg, "socket-timeout", 30, 1, 86400, &n, err)) return false;
  c.socket_timeout_ms = (int)n * 1000;
  // The cache must exist (--cache or --cache2): checked from the options, which also holds in a
  // reload's dry run where no cache is mapped.
  if (!get_bounded(cfg, "static-cache-paths", 0, 0, 86400LL * 365, &c.cache_paths_s, err)) return false;
  c.cache_paths_name = cfg.get("static-cache-paths-name");
  if (c.cache_paths_s > 0) {
    std::vector<std::string> caches;
    if (cfg.has("cache")) caches.push_back("default");
    for (auto& v : cfg.all("cache2")) {
      CacheSpec spec;
      std::string e;
      if (parse_cache2_spec(v, &spec, &e)) caches.push_back(spec.name);
    }
    bool found = c.cache_paths_name.empty() ? !caches.empty()
                                            : std::find(caches.begin(), caches.end(), c.cache_paths_name) != caches.end();
    if (!found) {
      *err = c.cache_paths_name.empty()
                 ? "--static-cache-paths needs a cache: add --cache2 name=NAME,items=N"
                 : "--static-cache-paths-name " + c.cache_paths_name + ": no --cache2 cache has that name";
      return false;
    }
  } else if (!c.cache_paths_name.empty()) {
    log_line("static: --static-cache-paths-name has no effect without --static-cache-paths SECONDS");
  }
  auto files = cfg.all("mimefile");
  if (files.empty()) {
    if (!load_mime_file("/etc/mime.types", &c.mime)) load_builtin_mime(&c.mime);
  } else {
    for (auto& f : files)
      if (!load_mime_file(f, &c.mime)) {
        *err = "--mimefile " + f + ": " + strerror(errno);
        return false;
      }
  }
  load_builtin_mime(&c.mime);  // fills what the files lack (emplace keeps theirs)
  if (docroot) {
    StaticMount m;
    m.append_prefix = true;
    m.dir = m.root = "";  // DOCUMENT_ROOT, per request
    c.mounts.push_back(std::move(m));
  }
  g_enabled = !c.mounts.empty();
  g_settings = std::move(c);
  return true;
}

}  // namespace uwsgi
