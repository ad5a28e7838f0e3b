// What the static-file options say (static-map, check-static, static-index, static-expires*,
// static-gzip*, mimefile, file-serve-mode, honour-range, offload-threads), read once at start-up
// and never changed after: every worker, thread and core reads it without a lock.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace uwsgi {

class Config;
class HostImpl;

// A compiled PCRE2 pattern (static-expires, static-expires-uri, static-gzip).
class StaticRegex {
 public:
  StaticRegex() = default;
  ~StaticRegex();
  StaticRegex(StaticRegex&& o) noexcept : code_(o.code_) { o.code_ = nullptr; }
  StaticRegex& operator=(StaticRegex&&) = delete;
  StaticRegex(const StaticRegex&) = delete;
  bool compile(const std::string& pattern, std::string* err);
  bool match(std::string_view subject) const;

 private:
  void* code_ = nullptr;  // pcre2_code_8
};

enum class FileServeMode { kSendfile, kXSendfile, kXAccelRedirect };

struct StaticMount {
  std::string prefix;    // URI prefix ("/static"); empty for check-static
  std::string dir;       // the directory (or file) as configured
  std::string root;      // dir resolved (realpath) at start-up: what a file must stay inside
  bool append_prefix = false;  // static-map2 and check-static: dir + the whole PATH_INFO
};

struct StaticExpires {
  enum Kind { kType, kFilename, kUri, kPathInfo } kind;
  bool from_mtime = false;  // the -mtime variants: expiry counts from the file's mtime
  std::string type;         // kType: the exact mime type
  std::shared_ptr<StaticRegex> re;
  long long seconds = 0;
};

struct StaticConfig {
  std::vector<StaticMount> mounts;        // static-map, static-map2, check-static: first match wins
  std::vector<std::string> index;         // static-index
  std::vector<std::string> skip_ext;      // static-skip-ext
  std::vector<std::string> safe;          // static-safe, resolved
  std::vector<StaticExpires> expires;
  bool gzip_all = false;                  // static-gzip-all
  std::vector<std::shared_ptr<StaticRegex>> gzip_re;  // static-gzip
  std::vector<std::string> gzip_dirs;     // static-gzip-dir (alias static-gzip-prefix), resolved
  std::vector<std::string> gzip_ext;      // static-gzip-ext (alias static-gzip-suffix)
  bool honour_range = false;
  FileServeMode mode = FileServeMode::kSendfile;
  int offload_threads = 0;
  long long cache_paths_s = 0;            // static-cache-paths: seconds a resolved path is kept (0: off)
  std::string cache_paths_name;           // static-cache-paths-name: the --cache2 cache ("": the first)
  int socket_timeout_ms = 30000;
  std::unordered_map<std::string, std::string> mime;  // extension (no dot, lower case) -> type
};

void register_static_options(HostImpl& host);

// Reads and checks the options (a bad one is an error naming it), loads the mime files.
bool read_static_config(const Config& cfg, std::string* err);

// nullptr when no option maps a URI to files (the request path then never looks at the disk).
const StaticConfig* static_config();
// The mime tables and range/mode settings, also when nothing is mapped (route static: actions).
const StaticConfig& static_settings();

}  // namespace uwsgi
