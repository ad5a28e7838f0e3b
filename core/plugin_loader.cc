#include "plugin_loader.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstring>

namespace uwsgi {

static bool all_digits(const std::string& s, size_t from) {
  if (from >= s.size()) return false;
  for (size_t i = from; i < s.size(); i++)
    if (s[i] < '0' || s[i] > '9') return false;
  return true;
}

// Spellings found in real configs: Debian's (python3, python311, gevent_python3), older
// packages' (gevent3, greenlet3) and uWSGI's own (python).
std::string canonical_plugin_name(const std::string& spec) {
  auto is_python3 = [](const std::string& s, size_t at) {  // python, python3, python3NN from `at`
    if (s.compare(at, std::string::npos, "python") == 0) return true;
    return s.compare(at, 7, "python3") == 0 && (s.size() == at + 7 || all_digits(s, at + 7));
  };
  std::string n = spec;
  size_t us = n.rfind("_python");
  if (us != std::string::npos && us > 0 && is_python3(n, us + 1)) n.resize(us);  // gevent_python311
  if (n.rfind("python3", 0) == 0 && is_python3(n, 0)) n = "python";
  if (n == "gevent3" || n == "greenlet3") n.pop_back();
  return n;
}

PluginNameKind classify_plugin_name(const std::string& name, std::string* note) {
  std::string n = canonical_plugin_name(name);
  // In uWSGI these are plugins; here their options are the core's (and one the core does not
  // have yet is still an error naming it), so naming the plugin is harmless.
  if (n == "logfile" || n.rfind("router_", 0) == 0 || n == "http" || n == "corerouter") {
    *note = "part of the core here";
    return PluginNameKind::kInCore;
  }
  if (n == "https" || n == "fastrouter" || n == "rawrouter" || n == "sslrouter") {
    *note = "uWSGI's \"" + n + "\" router (a separate proxy process) is not built yet: serve HTTP directly with "
            "--http ADDR or --http-socket ADDR";
    return PluginNameKind::kNotProvided;
  }
  if (n == "python2" || (n.rfind("python2", 0) == 0 && all_digits(n, 7))) {
    *note = "this server embeds Python 3 only (plugin python)";
    return PluginNameKind::kNotProvided;
  }
  return PluginNameKind::kPlugin;
}

static std::string exe_dir() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  buf[n] = 0;
  char* slash = strrchr(buf, '/');
  if (slash) *slash = 0;
  return buf;
}

bool check_plugin_info(const PluginInfo* info, const std::string& where, std::string* err) {
  if (info->abi_version != UWSGI_PLUGIN_ABI_VERSION) {
    *err = "plugin " + where + " was built for plugin ABI " + std::to_string(info->abi_version) +
           " but this server speaks ABI " + std::to_string(UWSGI_PLUGIN_ABI_VERSION) +
           ": rebuild it against this server's headers";
    return false;
  }
  if (!info->build_id || strcmp(info->build_id, UWSGI_PLUGIN_BUILD_ID) != 0) {
    *err = "plugin " + where + " was built with an incompatible compiler/C++ ABI (" +
           (info->build_id ? info->build_id : "none") + ", server: " UWSGI_PLUGIN_BUILD_ID ")";
    return false;
  }
  if (!info->name || !info->create) {
    *err = "plugin " + where + " has an incomplete plugin table";
    return false;
  }
  return true;
}

bool PluginLoader::loaded(const std::string& name) const {
  for (auto& p : plugins_)
    if (p.name == name) return true;
  return false;
}

bool PluginLoader::add(const PluginInfo* info, void* handle, const std::string& path, std::string* err, bool front) {
  if (!check_plugin_info(info, "\"" + std::string(info->name ? info->name : "?") + "\"" +
                                   (path.empty() ? "" : " (" + path + ")"), err))
    return false;
  LoadedPlugin lp;
  lp.name = info->name;
  lp.path = path;
  lp.handle = handle;
  lp.plugin.reset(info->create());
  if (front) {
    plugins_.insert(plugins_.begin() + (std::ptrdiff_t)front_, std::move(lp));
    front_++;
  } else {
    plugins_.push_back(std::move(lp));
  }
  return true;
}

LoadedPlugin* PluginLoader::find(const std::string& name) {
  for (auto& p : plugins_)
    if (p.name == name) return &p;
  return nullptr;
}

std::vector<std::string> PluginLoader::search_dirs() const {
  std::vector<std::string> dirs = dirs_;
  dirs.push_back(exe_dir());
  dirs.push_back(exe_dir() + "/../lib/uwsgi/plugins");
  return dirs;
}

bool PluginLoader::load_builtins(std::string* err) {
  for (const PluginInfo* const* p = kBuiltinPlugins; *p; p++)
    if (!add(*p, nullptr, "", err)) return false;
  front_ = plugins_.size();
  return true;
}

bool PluginLoader::load(const std::string& spec, std::string* err, bool front) {
  std::string path, name;
  bool is_path = spec.find('/') != std::string::npos || (spec.size() > 3 && spec.compare(spec.size() - 3, 3, ".so") == 0);
  if (is_path) {
    path = spec;
    std::string base = spec.substr(spec.rfind('/') + 1);
    const char* suffix = "_plugin.so";
    size_t l = strlen(suffix);
    if (base.size() > l && base.compare(base.size() - l, l, suffix) == 0) name = base.substr(0, base.size() - l);
    else if (base.size() > 3) name = base.substr(0, base.size() - 3);
    if (access(path.c_str(), R_OK) != 0) {
      *err = "plugin \"" + spec + "\" not found: no such file";
      return false;
    }
  } else {
    name = canonical_plugin_name(spec);
    if (loaded(name)) return true;  // built in, or named twice
    std::string note;
    switch (classify_plugin_name(spec, &note)) {
      case PluginNameKind::kInCore: return true;
      case PluginNameKind::kNotProvided:
        *err = "plugin \"" + spec + "\" is not provided: " + note;
        return false;
      case PluginNameKind::kPlugin: break;
    }
    std::vector<std::string> dirs = search_dirs();
    std::string tried;
    for (auto& d : dirs) {
      std::string p = d + "/" + name + "_plugin.so";
      if (access(p.c_str(), R_OK) == 0) {
        path = p;
        break;
      }
      tried += (tried.empty() ? "" : ", ") + p;
    }
    if (path.empty()) {
      *err = "plugin \"" + spec + "\" not found (looked for " + tried + ")";
      return false;
    }
  }
  if (loaded(name)) return true;
  // RTLD_GLOBAL: the python plugin's libpython symbols must be visible to C extension modules.
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL);
  if (!h) {
    *err = "plugin \"" + spec + "\" cannot be loaded: " + dlerror();
    return false;
  }
  std::string sym = name + "_uwsgi_plugin";
  auto* info = static_cast<const PluginInfo*>(dlsym(h, sym.c_str()));
  if (!info) {
    *err = "plugin \"" + spec + "\" (" + path + ") is not a plugin for this server: no symbol " + sym;
    dlclose(h);
    return false;
  }
  if (!add(info, h, path, err, front)) {
    dlclose(h);
    return false;
  }
  return true;
}

}  // namespace uwsgi
