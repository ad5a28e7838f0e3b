#include "config/options.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "config/values.h"

extern char** environ;

namespace uwsgi {

bool parse_bool_value(std::string_view v, bool* out) {
  if (v.empty() || v == "1" || v == "true" || v == "yes" || v == "on" || v == "True") {
    *out = true;
    return true;
  }
  if (v == "0" || v == "false" || v == "no" || v == "off" || v == "False") {
    *out = false;
    return true;
  }
  return false;
}

bool OptionRegistry::add(OptionDef def, const std::string& group, std::string* err) {
  std::vector<std::string> names = def.aliases;
  names.insert(names.begin(), def.name);
  for (auto& n : names) {
    if (by_name_.count(n)) {
      *err = "option --" + n + " registered twice (by " + options_[by_name_.find(n)->second].group +
             " and " + group + ")";
      return false;
    }
  }
  size_t idx = options_.size();
  for (auto& n : names) by_name_.emplace(n, idx);
  options_.push_back({std::move(def), group});
  return true;
}

const RegisteredOption* OptionRegistry::find(std::string_view name) const {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) {
    // uWSGI accepts underscores for dashes in ini keys and env names.
    std::string alt(name);
    for (auto& c : alt)
      if (c == '_') c = '-';
    it = by_name_.find(alt);
    if (it == by_name_.end()) return nullptr;
  }
  return &options_[it->second];
}

const RegisteredOption* OptionRegistry::find_short(char c) const {
  for (auto& o : options_)
    if (o.def.short_name == c) return &o;
  return nullptr;
}

bool ConfigStore::has(std::string_view name) const {
  for (auto& e : entries_)
    if (e.first == name) return true;
  return false;
}

std::string ConfigStore::get(std::string_view name, std::string_view def) const {
  for (auto it = entries_.rbegin(); it != entries_.rend(); ++it)
    if (it->first == name) return it->second;
  return std::string(def);
}

std::vector<std::string> ConfigStore::all(std::string_view name) const {
  std::vector<std::string> v;
  for (auto& e : entries_)
    if (e.first == name) v.push_back(e.second);
  return v;
}

long long ConfigStore::get_int(std::string_view name, long long def) const {
  for (auto it = entries_.rbegin(); it != entries_.rend(); ++it) {
    if (it->first != name) continue;
    char* end = nullptr;
    long long v = strtoll(it->second.c_str(), &end, 10);
    return (end && *end == 0 && !it->second.empty()) ? v : def;
  }
  return def;
}

bool ConfigStore::get_bool(std::string_view name) const {
  for (auto it = entries_.rbegin(); it != entries_.rend(); ++it) {
    if (it->first != name) continue;
    bool b = false;
    return parse_bool_value(it->second, &b) ? b : true;
  }
  return false;
}

static bool is_ini_path(const char* a) {
  size_t n = strlen(a);
  return n > 4 && (strcmp(a + n - 4, ".ini") == 0 || strstr(a, ".ini:") != nullptr);
}

static void split_list(const std::string& v, std::vector<std::string>* out) {
  size_t i = 0;
  while (i <= v.size()) {
    size_t j = v.find_first_of(", ", i);
    if (j == std::string::npos) j = v.size();
    if (j > i) out->push_back(v.substr(i, j - i));
    i = j + 1;
  }
}

// Expands ini options recursively (an ini may name another ini).
static bool expand_ini(const std::string& spec, std::vector<RawOption>* out, int depth, std::string* err) {
  if (depth > 16) {
    *err = "ini files include each other too deeply (at " + spec + ")";
    return false;
  }
  std::vector<RawOption> raw;
  if (!read_ini(spec, &raw, err)) return false;
  for (auto& r : raw) {
    if (r.name == "ini") {
      if (!expand_ini(r.value, out, depth + 1, err)) return false;
    } else {
      out->push_back(std::move(r));
    }
  }
  return true;
}

bool scan_early(int argc, char** argv, EarlyConfig* out, std::string* err) {
  auto take = [&](const std::string& name, const std::string& value) {
    if (name == "plugins" || name == "plugin") split_list(value, &out->plugins);
    else if (name == "plugin-dir" || name == "plugins-dir") out->plugin_dirs.push_back(value);
  };
  for (char** e = environ; e && *e; e++) {
    if (strncmp(*e, "UWSGI_PLUGINS=", 14) == 0) split_list(*e + 14, &out->plugins);
    if (strncmp(*e, "UWSGI_PLUGIN_DIR=", 17) == 0) out->plugin_dirs.push_back(*e + 17);
    if (strncmp(*e, "UWSGI_INI=", 10) == 0) {
      std::vector<RawOption> raw;
      if (!expand_ini(*e + 10, &raw, 0, err)) return false;
      for (auto& r : raw) take(r.name, r.value);
    }
  }
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") out->help = true;
    if (a == "--version") out->version = true;
    if (a.rfind("--", 0) != 0) {
      if (a[0] != '-' && is_ini_path(argv[i])) {
        std::vector<RawOption> raw;
        if (!expand_ini(a, &raw, 0, err)) return false;
        for (auto& r : raw) take(r.name, r.value);
      }
      continue;
    }
    std::string name = a.substr(2), value;
    size_t eq = name.find('=');
    bool has_value = eq != std::string::npos;
    if (has_value) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (name == "plugins" || name == "plugin" || name == "plugin-dir" || name == "plugins-dir" || name == "ini") {
      if (!has_value) {
        if (i + 1 >= argc) {
          *err = "option --" + name + " needs a value";
          return false;
        }
        value = argv[++i];
      }
      if (name == "ini") {
        std::vector<RawOption> raw;
        if (!expand_ini(value, &raw, 0, err)) return false;
        for (auto& r : raw) take(r.name, r.value);
      } else {
        take(name, value);
      }
    }
  }
  return true;
}

static std::string unknown_option(const std::string& shown, const std::string& name, const OptionRegistry& reg,
                                  OptionResolver* resolver) {
  std::string close = closest_option(name, reg, resolver ? resolver->other_names() : std::vector<std::string>{});
  return "unknown option " + shown + (close.empty() ? "" : " (did you mean --" + close + "?)");
}

static bool apply(const OptionRegistry& reg, const RawOption& r, ConfigStore* store, std::string* err,
                  OptionResolver* resolver = nullptr) {
  const RegisteredOption* o = reg.find(r.name);
  if (!o) {
    if (r.placeholder) return true;  // a custom ini key used only as a placeholder
    *err = unknown_option("\"" + r.name + "\"", r.name, reg, resolver) + " (" + r.origin + ")";
    return false;
  }
  const OptionDef& d = o->def;
  std::string value = r.value;
  if (d.arg == OptArg::None) {
    bool b;
    if (r.has_value && !parse_bool_value(value, &b)) {
      *err = "option --" + d.name + " is a flag and takes true/false, not \"" + value + "\" (" + r.origin + ")";
      return false;
    }
    if (!r.has_value) value = "true";
  } else if (d.arg == OptArg::Required && !r.has_value) {
    *err = "option --" + d.name + " needs a value (" + r.origin + ")";
    return false;
  }
  long long n;
  if (d.numeric && !parse_count(value, &n)) {
    *err = "option --" + d.name + " wants a whole number (0 or more), not \"" + value + "\" (" + r.origin + ")";
    return false;
  }
  store->add(d.name, value);
  if (d.on_set) {
    std::string e;
    if (!d.on_set(value, &e)) {
      *err = "option --" + d.name + ": " + e + " (" + r.origin + ")";
      return false;
    }
  }
  bool on = true;
  if (d.arg == OptArg::None) parse_bool_value(value, &on);
  if (on) {
    for (auto& imp : d.implies) {
      RawOption ir{imp.first, imp.second, true, "implied by --" + d.name};
      if (!apply(reg, ir, store, err)) return false;
    }
  }
  return true;
}

bool parse_config(int argc, char** argv, const OptionRegistry& reg, ConfigStore* store, std::string* err,
                  OptionResolver* resolver) {
  std::vector<RawOption> raw;
  // Environment first, so the command line wins for scalars. Unknown UWSGI_* names are ignored:
  // build variables such as UWSGI_PROFILE share the prefix.
  for (char** e = environ; e && *e; e++) {
    if (strncmp(*e, "UWSGI_", 6) != 0) continue;
    const char* eq = strchr(*e, '=');
    if (!eq) continue;
    std::string name(*e + 6, (size_t)(eq - (*e + 6)));
    for (auto& c : name) c = (c == '_') ? '-' : (char)tolower((unsigned char)c);
    if (name == "plugins" || name == "plugin-dir") continue;
    if (!reg.find(name) && resolver && !resolver->prepare(name, eq + 1, err)) return false;
    if (!reg.find(name)) continue;
    if (name == "ini") {  // UWSGI_INI=app.ini (common in containers) loads the file
      if (!expand_ini(eq + 1, &raw, 0, err)) return false;
      continue;
    }
    raw.push_back({name, eq + 1, true, "environment UWSGI_" + name});
  }
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a.size() > 2 && a[0] == '-' && a[1] == '-') {
      std::string name = a.substr(2), value;
      size_t eq = name.find('=');
      bool has_value = eq != std::string::npos;
      if (has_value) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
      }
      const RegisteredOption* o = reg.find(name);
      // An option of a shared plugin loads it now: the registry then says whether it takes a value.
      if (!o && resolver) {
        if (!resolver->prepare(name, value, err)) return false;
        o = reg.find(name);
      }
      if (!o) {
        *err = unknown_option("--" + name, name, reg, resolver);
        return false;
      }
      if (!has_value && o->def.arg == OptArg::Required) {
        if (i + 1 >= argc) {
          *err = "option --" + name + " needs a value";
          return false;
        }
        value = argv[++i];
        has_value = true;
      }
      if (o->def.name == "ini") {
        if (!expand_ini(value, &raw, 0, err)) return false;
        continue;
      }
      raw.push_back({name, value, has_value, "command line"});
    } else if (a.size() >= 2 && a[0] == '-' && a[1] != '-') {
      const RegisteredOption* o = reg.find_short(a[1]);
      if (!o) {
        *err = "unknown option -" + std::string(1, a[1]);
        return false;
      }
      std::string value;
      bool has_value = false;
      if (o->def.arg != OptArg::None) {
        if (a.size() > 2) {
          value = a.substr(2);
        } else if (i + 1 < argc) {
          value = argv[++i];
        } else {
          *err = "option -" + std::string(1, a[1]) + " needs a value";
          return false;
        }
        has_value = true;
      } else if (a.size() > 2) {
        *err = "option -" + std::string(1, a[1]) + " takes no value (got \"" + a + "\")";
        return false;
      }
      raw.push_back({o->def.name, value, has_value, "command line"});
    } else if (is_ini_path(argv[i])) {
      if (!expand_ini(a, &raw, 0, err)) return false;
    } else {
      *err = "unexpected argument \"" + a + "\" (options start with --)";
      return false;
    }
  }
  // Every plugin the options need is loaded before any option is applied, as if it had been
  // named first in --plugins (on_set hooks run once, against the full registry).
  if (resolver)
    for (auto& r : raw)
      if (!resolver->prepare(r.name, r.value, err)) return false;
  for (auto& r : raw)
    if (!apply(reg, r, store, err, resolver)) return false;
  return true;
}

}  // namespace uwsgi
