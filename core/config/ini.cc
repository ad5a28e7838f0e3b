// uWSGI-style ini files. Hand-written rather than Debian's libinih: that build cuts lines at 200
// bytes (a long value would be silently truncated) and treats indented lines as continuations.
//
// Rules: [section] headers; `key = value` (first '=' splits; whitespace trimmed); '#' or ';'
// starting a line is a comment; repeated keys are all kept (they append); `%(name)s` is replaced
// by the last value of `name` seen earlier in the file; `$(VAR)` by the environment; magic vars
// %d (dir of the file, with trailing '/'), %p (full path), %s (file name), %n (name without
// extension), %e (extension), %% (a percent sign).
// A key no option owns is an error, unless a %(key) placeholder uses it (custom ini variables).
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <set>

#include "config/options.h"

namespace uwsgi {

static std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return {};
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

static std::string absolute(const std::string& path) {
  if (!path.empty() && path[0] == '/') return path;
  char cwd[4096];
  if (!getcwd(cwd, sizeof cwd)) return path;
  return std::string(cwd) + "/" + path;
}

static bool expand(const std::string& in, const std::map<std::string, std::string>& seen,
                   const std::string& path, std::string* out, std::set<std::string>* used, std::string* err,
                   bool keep_unknown = false) {
  std::string abs = absolute(path);
  size_t slash = abs.rfind('/');
  std::string dir = abs.substr(0, slash + 1);
  std::string file = abs.substr(slash + 1);
  size_t dot = file.rfind('.');
  std::string stem = dot == std::string::npos ? file : file.substr(0, dot);
  std::string ext = dot == std::string::npos ? "" : file.substr(dot + 1);
  out->clear();
  for (size_t i = 0; i < in.size(); i++) {
    char c = in[i];
    if (c == '%' && i + 1 < in.size()) {
      char n = in[i + 1];
      if (n == '(') {
        size_t close = in.find(')', i + 2);
        if (close == std::string::npos) {
          *err = "unterminated %( placeholder in \"" + in + "\"";
          return false;
        }
        std::string key = in.substr(i + 2, close - i - 2);
        auto it = seen.find(key);
        if (it == seen.end() && keep_unknown) {  // a log variable such as %(addr): the log format's
          out->append(in, i, close - i + 1);
          i = close;
          continue;
        }
        if (it == seen.end()) {
          *err = "placeholder %(" + key + ") refers to an option not set earlier in the file";
          return false;
        }
        out->append(it->second);
        used->insert(key);
        i = close;
        if (i + 1 < in.size() && in[i + 1] == 's') i++;  // the optional trailing 's'
        continue;
      }
      const char* magic = nullptr;
      std::string v;
      switch (n) {
        case 'd': v = dir; magic = ""; break;
        case 'p': v = abs; magic = ""; break;
        case 's': v = file; magic = ""; break;
        case 'n': v = stem; magic = ""; break;
        case 'e': v = ext; magic = ""; break;
        case '%': v = "%"; magic = ""; break;
      }
      if (magic) {
        out->append(v);
        i++;
        continue;
      }
    }
    if (c == '$' && i + 1 < in.size() && in[i + 1] == '(') {
      size_t close = in.find(')', i + 2);
      if (close != std::string::npos) {
        std::string var = in.substr(i + 2, close - i - 2);
        const char* v = getenv(var.c_str());
        if (v) out->append(v);
        i = close;
        continue;
      }
    }
    out->push_back(c);
  }
  return true;
}

bool read_ini(const std::string& spec, std::vector<RawOption>* out, std::string* err) {
  std::string path = spec, section = "uwsgi";
  size_t colon = spec.rfind(':');
  if (colon != std::string::npos && colon > 0) {
    path = spec.substr(0, colon);
    section = spec.substr(colon + 1);
  }
  std::ifstream f(path);
  if (!f) {
    *err = "cannot open ini file \"" + path + "\"";
    return false;
  }
  std::map<std::string, std::string> seen;
  std::set<std::string> used;  // keys some %(key) referred to
  size_t first = out->size();
  std::string line, current;
  bool found_section = false;
  int lineno = 0;
  while (std::getline(f, line)) {
    lineno++;
    std::string t = trim(line);
    if (t.empty() || t[0] == '#' || t[0] == ';') continue;
    if (t[0] == '[') {
      if (t.back() != ']') {
        *err = path + ":" + std::to_string(lineno) + ": malformed section header";
        return false;
      }
      current = trim(t.substr(1, t.size() - 2));
      if (current == section) found_section = true;
      continue;
    }
    if (current != section) continue;
    size_t eq = t.find('=');
    std::string key = trim(eq == std::string::npos ? t : t.substr(0, eq));
    std::string raw = eq == std::string::npos ? "" : trim(t.substr(eq + 1));
    if (key.empty()) {
      *err = path + ":" + std::to_string(lineno) + ": line has no option name";
      return false;
    }
    std::string value;
    // Request log formats use the same %(name) syntax for their variables (uWSGI too leaves the
    // names no earlier key defines alone there).
    bool log_format = key == "log-format" || key == "logformat";
    if (!expand(raw, seen, path, &value, &used, err, log_format)) {
      *err = path + ":" + std::to_string(lineno) + ": " + *err;
      return false;
    }
    seen[key] = value;
    RawOption o;
    o.name = key;
    o.value = value;
    o.has_value = eq != std::string::npos;
    o.origin = path + ":" + std::to_string(lineno);
    out->push_back(std::move(o));
  }
  if (!found_section) {
    *err = "ini file \"" + path + "\" has no [" + section + "] section";
    return false;
  }
  for (size_t i = first; i < out->size(); i++)
    if (used.count((*out)[i].name)) (*out)[i].placeholder = true;
  return true;
}

}  // namespace uwsgi
