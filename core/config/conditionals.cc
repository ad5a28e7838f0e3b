// if-* blocks (up to the matching endif) and for loops (up to endfor): what each key tests or
// iterates over. Inside a block %(_) is the subject: the variable's value, the path, the item.
#include <glob.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "config/config_lang.h"

namespace uwsgi {

bool is_condition_key(const std::string& key) {
  static const char* const keys[] = {"if-env", "if-not-env", "if-exists", "if-not-exists", "if-file",
                                     "if-not-file", "if-dir", "if-not-dir", "if-opt", "if-not-opt"};
  for (auto k : keys)
    if (key == k) return true;
  return false;
}

bool is_loop_key(const std::string& key) { return key == "for" || key == "for-glob" || key == "for-readline"; }

bool eval_condition(const std::string& key, const std::string& value,
                    const std::map<std::string, std::string>& vars, bool* result, std::string* subject,
                    std::string* err) {
  bool negate = key.rfind("if-not-", 0) == 0;
  std::string what = key.substr(negate ? 7 : 3);
  if (value.empty()) {
    *err = key + " needs a value";
    return false;
  }
  // NAME or NAME=VALUE (env, opt): the second form compares.
  std::string name = value, want;
  bool compare = false;
  size_t eq = value.find('=');
  if ((what == "env" || what == "opt") && eq != std::string::npos) {
    name = value.substr(0, eq);
    want = value.substr(eq + 1);
    compare = true;
  }
  bool ok = false;
  *subject = value;
  struct stat st;
  if (what == "env") {
    const char* v = getenv(name.c_str());
    ok = v && (compare ? want == v : *v != 0);
    if (v) *subject = v;
  } else if (what == "opt") {
    auto it = vars.find(name);
    ok = it != vars.end() && (!compare || it->second == want);
    if (it != vars.end()) *subject = it->second;
  } else if (what == "exists") {
    ok = stat(value.c_str(), &st) == 0;
  } else if (what == "file") {
    ok = stat(value.c_str(), &st) == 0 && S_ISREG(st.st_mode);
  } else if (what == "dir") {
    ok = stat(value.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
  } else {
    *err = "unknown condition " + key;
    return false;
  }
  *result = negate ? !ok : ok;
  return true;
}

bool loop_items(const std::string& key, const std::string& value, std::vector<std::string>* items,
                std::string* err) {
  if (key == "for") {
    std::istringstream in(value);
    for (std::string t; in >> t;) items->push_back(t);
    return true;
  }
  if (key == "for-glob") {
    glob_t g;
    int rc = glob(value.c_str(), 0, nullptr, &g);
    if (rc == 0)
      for (size_t i = 0; i < g.gl_pathc; i++) items->push_back(g.gl_pathv[i]);
    globfree(&g);
    return true;  // no match: no iteration
  }
  std::ifstream f(value);
  if (!f) {
    *err = "for-readline: cannot open \"" + value + "\"";
    return false;
  }
  for (std::string line; std::getline(f, line);) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
    if (!line.empty()) items->push_back(line);
  }
  return true;
}

}  // namespace uwsgi
