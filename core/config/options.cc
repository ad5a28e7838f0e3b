#include "config/options.h"

#include "config/config_lang.h"
#include "config/uwsgi_option_names.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "config/values.h"

extern char** environ;

namespace uwsgi {

// "1000 ; recycle" -> "1000": a trailing ';' or '#' comment after whitespace (ini lines keep
// ';' in values, and uWSGI reads numbers with atoi, so such lines work there).
static std::string_view strip_value(std::string_view v) {
  size_t b = v.find_first_not_of(" \t");
  if (b == std::string_view::npos) return {};
  v.remove_prefix(b);
  for (size_t i = 1; i < v.size(); i++)
    if ((v[i] == ';' || v[i] == '#') && (v[i - 1] == ' ' || v[i - 1] == '\t')) {
      v = v.substr(0, i);
      break;
    }
  size_t e = v.find_last_not_of(" \t");
  return e == std::string_view::npos ? std::string_view() : v.substr(0, e + 1);
}

static bool iequals(std::string_view a, const char* b) {
  size_t n = strlen(b);
  if (a.size() != n) return false;
  for (size_t i = 0; i < n; i++)
    if (tolower((unsigned char)a[i]) != b[i]) return false;
  return true;
}

bool parse_bool_value(std::string_view raw, bool* out) {
  std::string_view v = strip_value(raw);
  if (v.empty() || iequals(v, "true") || iequals(v, "yes") || iequals(v, "on") || iequals(v, "y")) {
    *out = true;
    return true;
  }
  if (iequals(v, "false") || iequals(v, "no") || iequals(v, "off") || iequals(v, "n")) {
    *out = false;
    return true;
  }
  long long n;
  std::string s(v);
  char* end = nullptr;
  errno = 0;
  n = strtoll(s.c_str(), &end, 10);
  if (*end != 0 || errno) return false;
  *out = n != 0;  // uWSGI: any number but 0 turns a flag on
  return true;
}

bool parse_number_value(std::string_view raw, long long* out) {
  std::string_view v = strip_value(raw);
  if (iequals(v, "true") || iequals(v, "yes") || iequals(v, "on")) {
    *out = 1;
    return true;
  }
  if (iequals(v, "false") || iequals(v, "no") || iequals(v, "off")) {
    *out = 0;
    return true;
  }
  std::string s(v);
  char* end = nullptr;
  errno = 0;
  long long n = strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end != 0 || errno) return false;
  *out = n;
  return true;
}

const RegisteredOption* find_option_by_prefix(const OptionRegistry& reg, std::string_view name, std::string* err) {
  if (name.empty()) return nullptr;
  const RegisteredOption* found = nullptr;
  std::vector<std::string> candidates;
  for (auto& o : reg.all()) {
    std::vector<std::string> names = o.def.aliases;
    names.insert(names.begin(), o.def.name);
    for (auto& n : names)
      if (n.compare(0, name.size(), name) == 0) {
        if (found != &o) candidates.push_back("--" + n);
        found = &o;
        break;
      }
  }
  if (candidates.size() > 1) {
    *err = "ambiguous option --" + std::string(name) + " (could be";
    for (size_t i = 0; i < candidates.size(); i++) *err += (i ? ", " : " ") + candidates[i];
    *err += ")";
    return nullptr;
  }
  return found;
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
    long long v;
    return parse_number_value(it->second, &v) ? v : def;
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

static void split_list(const std::string& v, std::vector<std::string>* out) {
  size_t i = 0;
  while (i <= v.size()) {
    size_t j = v.find_first_of(", ", i);
    if (j == std::string::npos) j = v.size();
    if (j > i) out->push_back(v.substr(i, j - i));
    i = j + 1;
  }
}

// UWSGI_HTTP_SOCKET=... -> "http-socket"; returns the '=' (the value follows it), or nullptr
// for any other environment entry.
static const char* env_option_name(const char* entry, std::string* name) {
  if (strncmp(entry, "UWSGI_", 6) != 0) return nullptr;
  const char* eq = strchr(entry, '=');
  if (!eq) return nullptr;
  name->assign(entry + 6, (size_t)(eq - (entry + 6)));
  for (auto& c : *name) c = (c == '_') ? '-' : (char)tolower((unsigned char)c);
  return eq;
}

// The options that name a config file (and the file's kind; "" = by extension).
static bool is_config_option(const std::string& name, std::string* kind) { return is_include_key(name, kind); }

// --plugins and its spellings; --need-plugin(s) is uWSGI's fatal form, and here every plugin that
// cannot be loaded already stops start-up.
static bool is_plugins_option(const std::string& name) {
  return name == "plugins" || name == "plugin" || name == "need-plugins" || name == "need-plugin";
}

bool scan_early(int argc, char** argv, EarlyConfig* out, std::string* err, const OptionRegistry* known) {
  set_exec_includes(ExecIncludes::kRecord);  // parse_config replays what the commands printed
  ConfigInterpreter in(nullptr);
  for (char** e = environ; e && *e; e++) {
    std::string name;
    const char* eq = env_option_name(*e, &name);
    if (!eq) continue;
    if (is_plugins_option(name) || name == "plugin-dir") in.add_direct(name, eq + 1, true, "environment");
    std::string kind;
    if (is_config_option(name, &kind) && !in.run_file(kind, eq + 1, 0, err)) return false;
  }
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") out->help = true;
    if (a == "--version") out->version = true;
    // uWSGI's short forms of the config file options (-x FILE, -j FILE, -y FILE or -xFILE).
    static const std::pair<char, const char*> kShortConfig[] = {{'x', "xml"}, {'j', "json"}, {'y', "yaml"}};
    bool short_config = false;
    for (auto& [c, kind] : kShortConfig) {
      if (a.size() < 2 || a[0] != '-' || a[1] != c || (a.size() == 2 && i + 1 >= argc)) continue;
      std::string file = a.size() > 2 ? a.substr(2) : std::string(argv[++i]);
      if (!in.run_file(kind, file, 0, err)) return false;
      short_config = true;
    }
    if (short_config) continue;
    if (a.rfind("--", 0) != 0) {
      if (a[0] != '-' && !config_kind_of(a).empty() && !in.run_file("", a, 0, err)) return false;
      continue;
    }
    std::string name = a.substr(2), value;
    size_t eq = name.find('=');
    bool has_value = eq != std::string::npos;
    if (has_value) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    std::string kind;
    bool config = is_config_option(name, &kind);
    if (!config && !has_value && known && i + 1 < argc) {
      const RegisteredOption* o = known->find(name);
      if (o && o->def.arg == OptArg::Required && !is_plugins_option(o->def.name) && o->def.name != "plugin-dir") {
        i++;  // its value
        continue;
      }
    }
    if (config || is_plugins_option(name) || name == "plugin-dir" || name == "plugins-dir") {
      if (!has_value) {
        if (i + 1 >= argc) {
          *err = "option --" + name + " needs a value";
          return false;
        }
        value = argv[++i];
      }
      if (config) {
        if (!in.run_file(kind, value, 0, err)) return false;
      } else {
        in.add_direct(name, value, true, "command line");
      }
    }
  }
  for (auto& r : in.out) {
    if (is_plugins_option(r.name)) split_list(r.value, &out->plugins);
    else if (r.name == "plugin-dir" || r.name == "plugins-dir") out->plugin_dirs.push_back(r.value);
  }
  return true;
}

static std::string unknown_option(const std::string& shown, const std::string& name, const OptionRegistry& reg,
                                  OptionResolver* resolver) {
  std::string close = closest_option(name, reg, resolver ? resolver->other_names() : std::vector<std::string>{});
  return "unknown option " + shown + (close.empty() ? "" : " (did you mean --" + close + "?)");
}

static bool apply(const OptionRegistry& reg, const RawOption& r, ConfigStore* store, bool strict,
                  std::string* err, OptionResolver* resolver = nullptr) {
  const RegisteredOption* o = reg.find(r.name);
  if (!o) {
    if (is_uwsgi_option_name(r.name)) {  // not a custom key: an option this server lacks
      *err = "\"" + r.name + "\" is a uWSGI option this server does not support yet (" + r.origin + ")";
      return false;
    }
    if (r.from_file && !strict) {  // uWSGI keeps it as a custom placeholder
      if (!r.placeholder) {
        std::string close = closest_option(r.name, reg, resolver ? resolver->other_names() : std::vector<std::string>{});
        store->warnings().push_back(r.origin + ": \"" + r.name +
                                    "\" is not an option; kept as a placeholder, but nothing uses it" +
                                    (close.empty() ? "" : " (did you mean --" + close + "?)"));
      }
      return true;
    }
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
    value = (!r.has_value || b) ? "true" : "false";
  } else if (d.arg == OptArg::Required && !r.has_value) {
    *err = "option --" + d.name + " needs a value (" + r.origin + ")";
    return false;
  }
  if (d.numeric) {
    // "1000 ; recycle" and "true" read as uWSGI reads them; below 0 means nothing for any option.
    long long n;
    if (!parse_number_value(value, &n) || n < 0) {
      *err = "option --" + d.name + " wants a whole number (0 or more), not \"" + value + "\" (" + r.origin + ")";
      return false;
    }
    value = std::to_string(n);
  }
  store->add(d.name, value);
  if (d.on_set) {
    std::string e;
    if (!d.on_set(value, &e)) {
      *err = "option --" + d.name + ": " + e + " (" + r.origin + ")";
      return false;
    }
  }
  if (d.arg != OptArg::None || value == "true") {
    for (auto& imp : d.implies) {
      RawOption ir{imp.first, imp.second, true, "implied by --" + d.name};
      if (!apply(reg, ir, store, strict, err)) return false;
    }
  }
  return true;
}

bool parse_config(int argc, char** argv, const OptionRegistry& reg, ConfigStore* store, std::string* err,
                  OptionResolver* resolver) {
  set_exec_includes(ExecIncludes::kReplay);  // what scan_early's reading recorded
  struct RunAfter {
    ~RunAfter() { set_exec_includes(ExecIncludes::kRun); }
  } run_after;
  ConfigInterpreter in(&reg);
  // Environment first, so the command line wins for scalars. Unknown UWSGI_* names are ignored:
  // build variables such as UWSGI_PROFILE share the prefix.
  for (char** e = environ; e && *e; e++) {
    std::string name;
    const char* eq = env_option_name(*e, &name);
    if (!eq) continue;
    if (is_plugins_option(name) || name == "plugin-dir") continue;
    if (!reg.find(name) && resolver && !resolver->prepare(name, eq + 1, err)) return false;
    if (!reg.find(name)) continue;
    std::string kind;
    if (is_config_option(name, &kind)) {
      if (!in.run_file(kind, eq + 1, 0, err)) return false;
      continue;
    }
    in.add_direct(name, eq + 1, true, "environment UWSGI_" + name);
  }
  std::string optional_before;  // an optional-value option given without "=VALUE" just before
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i], after_optional;
    after_optional.swap(optional_before);
    if (a.size() > 2 && a[0] == '-' && a[1] == '-') {
      std::string name = a.substr(2), value;
      size_t eq = name.find('=');
      bool has_value = eq != std::string::npos;
      if (has_value) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
      }
      const RegisteredOption* o = reg.find(name);
      // An exact name first; an option of a shared plugin loads it (the registry then says
      // whether it takes a value); then a prefix among the options known at this point.
      if (!o && resolver) {
        if (!resolver->prepare(name, value, err)) return false;
        o = reg.find(name);
      }
      if (!o && is_uwsgi_option_name(name)) {  // a whole uWSGI name is never a prefix of ours
        *err = "uWSGI option --" + name + " is not supported by this server yet";
        return false;
      }
      if (!o) o = find_option_by_prefix(reg, name, err);
      if (!o) {
        if (err->empty()) *err = unknown_option("--" + name, name, reg, resolver);
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
      std::string kind;
      if (is_config_option(o->def.name, &kind)) {
        if (!in.run_file(kind, value, 0, err)) return false;
        continue;
      }
      if (!has_value && o->def.arg == OptArg::Optional) optional_before = o->def.name;
      in.add_direct(o->def.name, value, has_value, "command line");
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
          has_value = true;
        } else if (o->def.arg == OptArg::Optional) {
          // As getopt (and --name without "="): an optional value only when attached (-C660).
        } else if (i + 1 < argc) {
          value = argv[++i];
          has_value = true;
        } else {
          *err = "option -" + std::string(1, a[1]) + " needs a value";
          return false;
        }
      } else if (a.size() > 2) {
        *err = "option -" + std::string(1, a[1]) + " takes no value (got \"" + a + "\")";
        return false;
      }
      std::string kind;
      if (has_value && is_config_option(o->def.name, &kind)) {  // -x / -j / -y FILE, as --xml ...
        if (!in.run_file(kind, value, 0, err)) return false;
        continue;
      }
      in.add_direct(o->def.name, value, has_value, "command line");
    } else if (!config_kind_of(a).empty()) {  // uwsgi app.ini / app.yaml / app.xml:section
      if (!in.run_file("", a, 0, err)) return false;
    } else if (!after_optional.empty()) {
      // As uWSGI's getopt: an optional value is given only as --NAME=VALUE (a separate word
      // would be taken for the value of a flag followed by a stray argument).
      *err = "unexpected argument \"" + a + "\": --" + after_optional + " takes its optional value as --" +
             after_optional + "=" + a;
      return false;
    } else {
      *err = "unexpected argument \"" + a + "\" (options start with --)";
      return false;
    }
  }
  in.finish();
  bool strict = false;
  for (auto& r : in.out)
    if (r.name == "strict") parse_bool_value(r.has_value ? r.value : "true", &strict);
  if (strict && !in.warnings.empty()) {
    *err = in.warnings.front() + " (--strict)";
    return false;
  }
  for (auto& w : in.warnings) store->warnings().push_back(w);
  // Every plugin the options need is loaded before any option is applied, as if it had been
  // named first in --plugins (on_set hooks run once, against the full registry).
  if (resolver)
    for (auto& r : in.out)
      if (!resolver->prepare(r.name, r.value, err)) return false;
  for (auto& r : in.out)
    if (!apply(reg, r, store, strict, err, resolver)) return false;
  return true;
}

}  // namespace uwsgi
