// Option registry (plugins extend it) and the parsed configuration, from argv, ini files and the
// environment, with uWSGI's rules: repeated options append, later scalars win, flags take
// true/false (or a number), a number may carry a trailing comment. The config language itself
// (placeholders, if-*, for, includes, yaml/json/xml) is config_lang.h.
#pragma once

#include <uwsgi/plugin.h>

#include <map>
#include <string>
#include <vector>

namespace uwsgi {

struct RegisteredOption {
  OptionDef def;
  std::string group;  // "core" or the plugin's name
};

class OptionRegistry {
 public:
  // Returns false (and *err) when the name is already taken.
  bool add(OptionDef def, const std::string& group, std::string* err);
  const RegisteredOption* find(std::string_view name) const;
  const RegisteredOption* find_short(char c) const;
  const std::vector<RegisteredOption>& all() const { return options_; }

 private:
  std::vector<RegisteredOption> options_;
  std::map<std::string, size_t, std::less<>> by_name_;
};

class ConfigStore : public Config {
 public:
  bool has(std::string_view name) const override;
  std::string get(std::string_view name, std::string_view def = {}) const override;
  std::vector<std::string> all(std::string_view name) const override;
  long long get_int(std::string_view name, long long def) const override;
  bool get_bool(std::string_view name) const override;
  std::vector<std::pair<std::string, std::string>> items() const override { return entries_; }

  void add(const std::string& name, const std::string& value) { entries_.emplace_back(name, value); }
  // Lines start-up logs once the logger is set up (unused custom keys, unknown placeholders).
  std::vector<std::string>& warnings() { return warnings_; }

 private:
  std::vector<std::pair<std::string, std::string>> entries_;  // canonical names, in order
  std::vector<std::string> warnings_;
};

// A raw (name, value) as written, before the registry knows every option.
struct RawOption {
  std::string name;
  std::string value;
  bool has_value = false;  // "--name=value" or "--name value" vs a bare "--name"
  std::string origin;      // "command line", "app.ini:12", "environment" for messages
  // A key from a config file (not the command line): when no option has that name, uWSGI keeps
  // it as a custom placeholder instead of failing (we warn unless a %(name) uses it; --strict
  // makes it an error).
  bool from_file = false;
  bool placeholder = false;  // some %(name) referred to this key
};

// Pass 1: what --plugins / --plugin-dir / --ini say, before plugins register their options.
// Ini files are read fully here (ini pairs are unambiguous); argv is scanned only for those keys.
struct EarlyConfig {
  std::vector<std::string> plugins;
  std::vector<std::string> plugin_dirs;
  bool help = false, version = false;
};
// known (the options registered so far): the word after --NAME when NAME takes a value is that
// value, never a config file (`--emperor "/etc/uwsgi/*.ini"`).
bool scan_early(int argc, char** argv, EarlyConfig* out, std::string* err, const OptionRegistry* known = nullptr);

// Finds the plugin that owns an option (or engine) nobody registered yet and loads it, before any
// option is applied (core/plugin_autoload.*). parse_config calls it for every option it reads.
class OptionResolver {
 public:
  virtual ~OptionResolver() = default;
  // `name` as written, `value` its value. Loads what the option or an engine it names needs.
  // false + *err: a plugin that should provide it cannot be loaded (stale manifest, ABI...).
  // An option nobody owns is not an error here: parse_config reports it.
  virtual bool prepare(const std::string& name, const std::string& value, std::string* err) = 0;
  // Option names of plugins not loaded, for "did you mean".
  virtual std::vector<std::string> other_names() = 0;
};

// Pass 2: parse everything against the full registry into store, calling on_set hooks. With a
// resolver, options of shared plugins load their plugin first (the registry grows).
bool parse_config(int argc, char** argv, const OptionRegistry& reg, ConfigStore* store,
                  std::string* err, OptionResolver* resolver = nullptr);

// The option name closest to `name` (a typo's likely meaning), or "" when none is close.
std::string closest_option(const std::string& name, const OptionRegistry& reg, const std::vector<std::string>& more);

// Ini file → raw options (section defaults to "uwsgi"; "file.ini:section" picks another).
bool read_ini(const std::string& spec, std::vector<RawOption>* out, std::string* err);

// An OptionDef in one call, for the core's option tables (core_options.cc, request_log.cc, ...).
inline OptionDef make_option(const char* name, char short_name, OptArg arg, const char* help,
                             std::vector<std::string> aliases = {}, bool numeric = false) {
  OptionDef d;
  d.name = name;
  d.short_name = short_name;
  d.arg = arg;
  d.help = help;
  d.aliases = std::move(aliases);
  d.numeric = numeric;
  return d;
}

bool parse_bool_value(std::string_view v, bool* out);
// A number as uWSGI configs write them: "1000", "1000 ; recycle", "true"/"yes"/"on" (1),
// "false"/"no"/"off" (0). False for anything else.
bool parse_number_value(std::string_view v, long long* out);

// A long option on the command line that no option has as its exact name: the one option (or
// alias) it is an unambiguous prefix of (getopt's rule: --process = --processes). Null when none;
// *err is set when the prefix is ambiguous (naming the candidates).
const RegisteredOption* find_option_by_prefix(const OptionRegistry& reg, std::string_view name, std::string* err);

}  // namespace uwsgi
