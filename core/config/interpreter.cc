// The config language's interpreter: top to bottom, includes expanded where they stand (uWSGI's
// "expand asap"), each value expanded with the placeholders set so far.
#include <optional>

#include "config/config_lang.h"

namespace uwsgi {

static bool read_lines(const std::string& kind, const std::string& path, const std::string& section,
                       std::vector<ConfigLine>* lines, std::string* err) {
  if (kind == "yaml") return read_yaml_lines(path, section, lines, err);
  if (kind == "json") return read_json_lines(path, section, lines, err);
  if (kind == "xml") return read_xml_lines(path, section, lines, err);
  return read_ini_lines(path, section, lines, err);
}

// Options whose %(name)s are per-request variables, resolved later by the logger.
static bool keeps_unknown_placeholders(const std::string& key) {
  return key == "log-format" || key == "logformat" || key == "log-format-strftime";
}

bool ConfigInterpreter::run_file(const std::string& kind_in, const std::string& spec, int depth,
                                 std::string* err) {
  std::string path, section;
  split_spec(spec, &path, &section);
  std::string kind = kind_in.empty() ? config_kind_of(path) : kind_in;
  if (kind.empty()) kind = "ini";
  std::string id = path + ":" + section;
  for (auto& s : stack_)
    if (s == id) {
      *err = "config file \"" + spec + "\" includes itself";
      return false;
    }
  if (depth > 16) {
    *err = "config files include each other too deeply (at \"" + spec + "\")";
    return false;
  }
  std::vector<ConfigLine> lines;
  if (!read_lines(kind, path, section, &lines, err)) return false;
  FileFrame f{path, section, kind, MagicVars::for_file(path, section)};
  stack_.push_back(id);
  bool ok = run_lines(lines, 0, lines.size(), f, depth, err);
  stack_.pop_back();
  return ok;
}

size_t ConfigInterpreter::find_block_end(const std::vector<ConfigLine>& lines, size_t open, size_t end,
                                         bool loop) {
  int nest = 0;
  for (size_t j = open + 1; j < end; j++) {
    const std::string& k = lines[j].key;
    if (loop ? is_loop_key(k) : is_condition_key(k)) nest++;
    else if (k == (loop ? "endfor" : "endif")) {
      if (nest == 0) return j;
      nest--;
    }
  }
  return end;
}

bool ConfigInterpreter::run_lines(const std::vector<ConfigLine>& lines, size_t begin, size_t end,
                                  const FileFrame& f, int depth, std::string* err) {
  for (size_t i = begin; i < end; i++) {
    const ConfigLine& l = lines[i];
    std::vector<std::string> unknown;
    ExpandScope sc{&vars_, &f.magic, &used_, &unknown};
    std::string v;
    if (!expand_value(l.value, sc, &v, err)) {
      *err = l.origin + ": " + *err;
      return false;
    }
    if (!keeps_unknown_placeholders(l.key))
      for (auto& u : unknown)
        warnings.push_back(l.origin + ": placeholder %(" + u + ") is not set; kept as written");
    bool cond = is_condition_key(l.key), loop = is_loop_key(l.key);
    if (cond || loop) {
      size_t close = find_block_end(lines, i, end, loop);
      if (close == end) {
        *err = l.origin + ": " + l.key + " without a matching " + (loop ? "endfor" : "endif");
        return false;
      }
      auto saved = vars_.find("_") != vars_.end() ? std::optional<std::string>(vars_["_"]) : std::nullopt;
      auto body = [&](const std::string& subject) {
        vars_["_"] = subject;
        return run_lines(lines, i + 1, close, f, depth, err);
      };
      bool ok = true;
      if (cond) {
        bool yes = false;
        std::string subject;
        if (!eval_condition(l.key, v, vars_, &yes, &subject, err)) {
          *err = l.origin + ": " + *err;
          return false;
        }
        if (yes) ok = body(subject);
      } else {
        std::vector<std::string> items;
        if (!loop_items(l.key, v, &items, err)) {
          *err = l.origin + ": " + *err;
          return false;
        }
        for (auto& it : items)
          if (!(ok = body(it))) break;
      }
      if (saved) vars_["_"] = *saved;
      else vars_.erase("_");
      if (!ok) return false;
      i = close;
      continue;
    }
    if (l.key == "endif" || l.key == "endfor") {
      *err = l.origin + ": " + l.key + " without a matching " + (l.key == "endif" ? "if-" : "for");
      return false;
    }
    std::string kind;
    if (is_include_key(l.key, &kind)) {
      std::string spec = v;
      if (!spec.empty() && spec[0] == ':') spec = f.path + spec;  // a section of this file
      if (kind.empty()) kind = config_kind_of(spec).empty() ? f.kind : "";
      if (!run_file(kind, spec, depth + 1, err)) {
        if (err->find(l.origin) == std::string::npos) *err = l.origin + ": " + *err;
        return false;
      }
      continue;
    }
    if (l.key == "set-placeholder" || l.key == "set-ph") {
      size_t eq = v.find('=');
      if (eq == std::string::npos) {
        *err = l.origin + ": " + l.key + " wants NAME=VALUE, not \"" + v + "\"";
        return false;
      }
      vars_[v.substr(0, eq)] = v.substr(eq + 1);
      continue;
    }
    vars_[l.key] = v;
    RawOption o;
    o.name = l.key;
    o.value = v;
    o.has_value = l.has_value;
    o.origin = l.origin;
    o.from_file = true;
    out.push_back(std::move(o));
  }
  return true;
}

void ConfigInterpreter::add_direct(const std::string& name, const std::string& value, bool has_value,
                                   const std::string& origin) {
  vars_[name] = value;
  RawOption o;
  o.name = name;
  o.value = value;
  o.has_value = has_value;
  o.origin = origin;
  out.push_back(std::move(o));
}

void ConfigInterpreter::finish() {
  for (auto& o : out)
    if (o.from_file && used_.count(o.name)) o.placeholder = true;
}

}  // namespace uwsgi
