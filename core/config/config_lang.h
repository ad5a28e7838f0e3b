// uWSGI's config language, shared by every source (ini, yaml, json, xml, the command line):
// sources turn a file into (key, value) lines as written; the interpreter walks them top to
// bottom, expands values (placeholders, magic variables, $(ENV), @(file)), runs if-*/for blocks
// and includes (ini = file:section, inherit, ...) in place, and yields the options in order.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "config/options.h"

namespace uwsgi {

// One key as a source read it, nothing expanded yet.
struct ConfigLine {
  std::string key;
  std::string value;
  bool has_value = true;
  std::string origin;  // "app.ini:12"
};

// ---- sources (one file each) ----
// spec is the path; section "" picks the format's default ("uwsgi").
bool read_ini_lines(const std::string& path, const std::string& section, std::vector<ConfigLine>* out,
                    std::string* err);
bool read_yaml_lines(const std::string& path, const std::string& section, std::vector<ConfigLine>* out,
                     std::string* err);
bool read_json_lines(const std::string& path, const std::string& section, std::vector<ConfigLine>* out,
                     std::string* err);
bool read_xml_lines(const std::string& path, const std::string& section, std::vector<ConfigLine>* out,
                    std::string* err);

// "ini", "yaml", "json" or "xml" for a path by its extension (after any ":section"); "" if none.
std::string config_kind_of(const std::string& spec);
// The option names that include a file of a kind: ini, yaml/yml, json/js, xml, inherit (by extension).
bool is_include_key(const std::string& key, std::string* kind);
// "file.ini:section" -> (path, section); a ':' followed by a '/' is part of the path.
void split_spec(const std::string& spec, std::string* path, std::string* section);

// ---- magic variables (%d, %n, %k, ...) of one config file ----
struct MagicVars {
  std::map<char, std::string> table;
  static MagicVars for_file(const std::string& path_as_given, const std::string& section);
  static MagicVars global();  // the ones that need no file (%k, %h, %v, ...)
};
unsigned djb33x_hash(const std::string& s);

// ---- value expansion ----
struct ExpandScope {
  const std::map<std::string, std::string>* vars = nullptr;  // placeholders: keys set so far
  const MagicVars* magic = nullptr;                           // null: none (command line)
  std::set<std::string>* used = nullptr;                      // placeholder names referenced
  std::vector<std::string>* unknown = nullptr;                // %(name)s that nothing defines
};
// Expands %(name), %(a + b), %X magic, %%, $(ENV), @(file), @(exec://cmd) in one left-to-right
// pass. Unknown %(name) stays as written (uWSGI: log-format variables look the same).
bool expand_value(const std::string& in, const ExpandScope& scope, std::string* out, std::string* err);
// The config is read twice (once early for --plugins, then whole): the first reading records
// each @(exec://cmd) output and the second replays them in order, so each command runs once.
enum class ExecIncludes { kRun, kRecord, kReplay };
void set_exec_includes(ExecIncludes mode);

// ---- conditionals and loops ----
bool is_condition_key(const std::string& key);
// Evaluates if-env/if-exists/...; *subject is what %(_) becomes inside the block.
bool eval_condition(const std::string& key, const std::string& value,
                    const std::map<std::string, std::string>& vars, bool* result, std::string* subject,
                    std::string* err);
bool is_loop_key(const std::string& key);
// The items a for / for-glob / for-readline iterates over.
bool loop_items(const std::string& key, const std::string& value, std::vector<std::string>* items,
                std::string* err);

// ---- the interpreter ----
class ConfigInterpreter {
 public:
  // reg null: the early pass (plugins not loaded yet), every key is kept.
  explicit ConfigInterpreter(const OptionRegistry* reg) : reg_(reg) {}
  // Reads and runs a file ("path[:section]"), kind "" = by extension (ini by default).
  bool run_file(const std::string& kind, const std::string& spec, int depth, std::string* err);
  // A key given outside any file (command line, environment): recorded, not expanded.
  void add_direct(const std::string& name, const std::string& value, bool has_value,
                  const std::string& origin);
  // Marks file keys that a placeholder referenced; call once everything ran.
  void finish();

  std::vector<RawOption> out;
  std::vector<std::string> warnings;  // one line each: "file:line: ..."

 private:
  struct FileFrame {
    std::string path, section, kind;
    MagicVars magic;
  };
  bool run_lines(const std::vector<ConfigLine>& lines, size_t begin, size_t end, const FileFrame& f,
                 int depth, std::string* err);
  size_t find_block_end(const std::vector<ConfigLine>& lines, size_t open, size_t end, bool loop);

  const OptionRegistry* reg_;
  std::map<std::string, std::string> vars_;
  std::set<std::string> used_;
  std::vector<std::string> stack_;  // files being read, for include loops
};

}  // namespace uwsgi
