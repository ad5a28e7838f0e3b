// The Emperor's directory / glob monitor: which vassal files exist now, and their mtimes.
#include <glob.h>
#include <sys/stat.h>

#include "process/emperor.h"

namespace uwsgi {

static bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() > suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string vassal_config_option(const std::string& path, const std::vector<std::string>& extra_ext) {
  static const std::pair<const char*, const char*> kKinds[] = {
      {".ini", "ini"}, {".xml", "xml"}, {".yaml", "yaml"}, {".yml", "yaml"}, {".json", "json"}, {".js", "json"}};
  for (auto& [ext, opt] : kKinds)
    if (ends_with(path, ext)) return opt;
  for (auto& e : extra_ext)
    if (ends_with(path, e[0] == '.' ? e : "." + e)) return "ini";
  return "";
}

std::map<std::string, VassalFile> scan_vassals(const EmperorSettings& s) {
  std::map<std::string, VassalFile> found;
  for (auto& m : s.monitors) {
    struct stat st;
    // A directory is watched whole; anything else is a glob (hidden files are skipped either way).
    std::string pattern = stat(m.c_str(), &st) == 0 && S_ISDIR(st.st_mode) ? m + "/*" : m;
    glob_t g{};
    if (glob(pattern.c_str(), 0, nullptr, &g) == 0) {
      for (size_t i = 0; i < g.gl_pathc; i++) {
        std::string path = g.gl_pathv[i];
        if (vassal_config_option(path, s.extra_ext).empty()) continue;
        if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;  // symlinks followed
        std::string id = path.substr(path.rfind('/') + 1);
        if (found.count(id)) continue;
        found[id] = {path, m, (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec};
      }
    }
    globfree(&g);
  }
  return found;
}

}  // namespace uwsgi
