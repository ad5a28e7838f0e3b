#include "config/option_manifest.h"

#include <dirent.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "config/options.h"

namespace uwsgi {

static std::string dashes(std::string s) {
  std::replace(s.begin(), s.end(), '_', '-');
  return s;
}

bool PluginManifest::owns_option(const std::string& name) const {
  std::string n = dashes(name);
  for (auto& o : options) {
    if (o.name == n) return true;
    for (auto& a : o.aliases)
      if (a == n) return true;
  }
  return false;
}

bool PluginManifest::owns_engine(const std::string& kind, const std::string& name) const {
  for (auto& e : engines)
    if (e.first == kind && e.second == name) return true;
  return false;
}

std::string manifest_path_for(const std::string& so_path) {
  std::string p = so_path;
  if (p.size() > 3 && p.compare(p.size() - 3, 3, ".so") == 0) p.resize(p.size() - 3);
  return p + ".options";
}

// Tabs and newlines would break the line format: help texts never need them.
static std::string field(std::string s) {
  for (auto& c : s)
    if (c == '\t' || c == '\n' || c == '\r') c = ' ';
  return s.empty() ? "-" : s;
}

std::string format_manifest(const std::string& plugin, const std::vector<const RegisteredOption*>& options,
                            const std::vector<std::pair<std::string, std::string>>& engines) {
  std::ostringstream o;
  o << "# options and engines of " << plugin << "_plugin.so, written by `uwsgi --plugin-manifest` at build time\n";
  o << "plugin\t" << plugin << "\n";
  for (const RegisteredOption* r : options) {
    const OptionDef& d = r->def;
    std::string aliases;
    for (auto& a : d.aliases) aliases += (aliases.empty() ? "" : ",") + a;
    o << "option\t" << d.name << "\t"
      << (d.arg == OptArg::None ? "none" : d.arg == OptArg::Optional ? "optional" : "required") << "\t"
      << (d.numeric ? 1 : 0) << "\t" << (d.short_name ? std::string(1, d.short_name) : "-") << "\t"
      << field(aliases) << "\t" << field(d.help) << "\n";
  }
  for (auto& e : engines) o << "engine\t" << e.first << "\t" << e.second << "\n";
  return o.str();
}

static std::vector<std::string> split_tabs(const std::string& line) {
  std::vector<std::string> f;
  size_t i = 0;
  while (true) {
    size_t j = line.find('\t', i);
    f.push_back(line.substr(i, j == std::string::npos ? std::string::npos : j - i));
    if (j == std::string::npos) return f;
    i = j + 1;
  }
}

bool parse_manifest(const std::string& text, const std::string& path, PluginManifest* out, std::string* err) {
  std::istringstream in(text);
  std::string line;
  int lineno = 0;
  auto bad = [&](const std::string& what) {
    *err = path + ":" + std::to_string(lineno) + ": " + what;
    return false;
  };
  out->manifest_path = path;
  while (std::getline(in, line)) {
    lineno++;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> f = split_tabs(line);
    if (f[0] == "plugin" && f.size() == 2 && !f[1].empty()) {
      out->plugin = f[1];
    } else if (f[0] == "option" && f.size() == 7) {
      OptionDef d;
      d.name = f[1];
      if (f[2] == "none") d.arg = OptArg::None;
      else if (f[2] == "optional") d.arg = OptArg::Optional;
      else if (f[2] == "required") d.arg = OptArg::Required;
      else return bad("unknown argument kind \"" + f[2] + "\"");
      d.numeric = f[3] == "1";
      if (f[4] != "-") d.short_name = f[4][0];
      if (f[5] != "-") {
        size_t i = 0;
        while (i <= f[5].size()) {
          size_t j = f[5].find(',', i);
          if (j == std::string::npos) j = f[5].size();
          if (j > i) d.aliases.push_back(f[5].substr(i, j - i));
          i = j + 1;
        }
      }
      d.help = f[6] == "-" ? "" : f[6];
      if (d.name.empty()) return bad("option without a name");
      out->options.push_back(std::move(d));
    } else if (f[0] == "engine" && f.size() == 3 &&
               (f[1] == "io-engine" || f[1] == "suspend-engine" || f[1] == "loop-engine")) {
      out->engines.emplace_back(f[1], f[2]);
    } else {
      return bad("unexpected line \"" + line + "\"");
    }
  }
  if (out->plugin.empty()) {
    lineno = 0;
    return bad("no \"plugin NAME\" line");
  }
  return true;
}

std::vector<PluginManifest> read_manifests(const std::vector<std::string>& dirs, std::vector<std::string>* warnings) {
  std::vector<PluginManifest> out;
  std::set<std::string> seen;
  const std::string suffix = "_plugin.options";
  for (auto& dir : dirs) {
    DIR* d = opendir(dir.c_str());
    if (!d) continue;
    std::vector<std::string> names;
    while (dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n.size() > suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0)
        names.push_back(n);
    }
    closedir(d);
    std::sort(names.begin(), names.end());  // readdir order is arbitrary: keep --help stable
    for (auto& n : names) {
      std::string path = dir + "/" + n;
      std::ifstream f(path);
      std::stringstream text;
      text << f.rdbuf();
      PluginManifest m;
      std::string err;
      if (!f || !parse_manifest(text.str(), path, &m, &err)) {
        if (warnings) warnings->push_back(err.empty() ? "cannot read plugin manifest " + path : err);
        continue;
      }
      if (!seen.insert(m.plugin).second) continue;
      m.so_path = dir + "/" + n.substr(0, n.size() - suffix.size()) + "_plugin.so";
      out.push_back(std::move(m));
    }
  }
  return out;
}

}  // namespace uwsgi
