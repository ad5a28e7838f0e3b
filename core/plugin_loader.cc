#include "plugin_loader.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstring>

namespace uwsgi {

std::string canonical_plugin_name(const std::string& spec) {
  std::string n = spec;
  for (const char* suffix : {"_python3", "_python"}) {
    size_t l = strlen(suffix);
    if (n.size() > l && n.compare(n.size() - l, l, suffix) == 0) n.resize(n.size() - l);
  }
  if (n == "python3" || n == "python311") n = "python";
  return n;
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

bool PluginLoader::add(const PluginInfo* info, void* handle, const std::string& path, std::string* err) {
  if (!check_plugin_info(info, "\"" + std::string(info->name ? info->name : "?") + "\"" +
                                   (path.empty() ? "" : " (" + path + ")"), err))
    return false;
  LoadedPlugin lp;
  lp.name = info->name;
  lp.path = path;
  lp.handle = handle;
  lp.plugin.reset(info->create());
  plugins_.push_back(std::move(lp));
  return true;
}

bool PluginLoader::load_builtins(std::string* err) {
  for (const PluginInfo* const* p = kBuiltinPlugins; *p; p++)
    if (!add(*p, nullptr, "", err)) return false;
  return true;
}

bool PluginLoader::load(const std::string& spec, std::string* err) {
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
    std::vector<std::string> dirs = dirs_;
    dirs.push_back(exe_dir());
    dirs.push_back(exe_dir() + "/../lib/uwsgi/plugins");
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
  if (!add(info, h, path, err)) {
    dlclose(h);
    return false;
  }
  return true;
}

}  // namespace uwsgi
