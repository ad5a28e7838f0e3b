// uWSGI-style ini files, read into lines (the language is applied by the interpreter).
// Hand-written rather than Debian's libinih: that build cuts lines at 200 bytes (a long value
// would be silently truncated) and treats indented lines as continuations.
//
// Rules: [section] headers (a section may be split across the file); `key = value` (first '='
// splits; whitespace trimmed); '#' or ';' starting a line is a comment, and so is a '#' after
// whitespace inside a value (`module = app:app  # the flask object`: uWSGI keeps the comment in
// the value, which no option wants; a shell would drop it too); repeated keys are all kept.
#include <fstream>

#include "config/config_lang.h"

namespace uwsgi {

static std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return {};
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

static std::string strip_inline_comment(const std::string& v) {
  for (size_t i = 1; i < v.size(); i++)
    if (v[i] == '#' && (v[i - 1] == ' ' || v[i - 1] == '\t')) return trim(v.substr(0, i));
  return v;
}

bool read_ini_lines(const std::string& path, const std::string& section_in, std::vector<ConfigLine>* out,
                    std::string* err) {
  std::string section = section_in.empty() ? "uwsgi" : section_in;
  std::ifstream f(path);
  if (!f) {
    *err = "cannot open ini file \"" + path + "\"";
    return false;
  }
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
    ConfigLine l;
    l.key = trim(eq == std::string::npos ? t : t.substr(0, eq));
    l.value = eq == std::string::npos ? "" : strip_inline_comment(trim(t.substr(eq + 1)));
    l.has_value = eq != std::string::npos;
    l.origin = path + ":" + std::to_string(lineno);
    if (l.key.empty()) {
      *err = l.origin + ": line has no option name";
      return false;
    }
    out->push_back(std::move(l));
  }
  if (!found_section) {
    *err = "ini file \"" + path + "\" has no [" + section + "] section";
    return false;
  }
  return true;
}

// The ini reader of old, kept for callers that want a file's options alone: the language is
// applied with no registry (every key kept; keys a placeholder used are marked).
bool read_ini(const std::string& spec, std::vector<RawOption>* out, std::string* err) {
  ConfigInterpreter in(nullptr);
  if (!in.run_file("ini", spec, 0, err)) return false;
  in.finish();
  for (auto& r : in.out) out->push_back(std::move(r));
  return true;
}

}  // namespace uwsgi
