// JSON config files (--json, file.json): the object under the section key ("uwsgi" by default)
// gives one line per key; an array repeats the key; true/false/numbers are written as text.
// Parsed by nlohmann-json (Debian's nlohmann-json3-dev). JSON carries no line numbers here, so
// messages name the file and the key.
#include <nlohmann/json.hpp>

#include <fstream>

#include "config/config_lang.h"

namespace uwsgi {

bool read_json_lines(const std::string& path, const std::string& section_in, std::vector<ConfigLine>* out,
                     std::string* err) {
  std::string section = section_in.empty() ? "uwsgi" : section_in;
  std::ifstream f(path);
  if (!f) {
    *err = "cannot open json file \"" + path + "\"";
    return false;
  }
  nlohmann::json root;
  try {
    root = nlohmann::json::parse(f);
  } catch (const nlohmann::json::exception& e) {
    *err = path + ": bad json: " + e.what();
    return false;
  }
  if (!root.is_object() || !root.contains(section) || !root[section].is_object()) {
    *err = "json file \"" + path + "\" has no \"" + section + "\" object";
    return false;
  }
  for (auto& [key, v] : root[section].items()) {
    std::string origin = path + ": \"" + key + "\"";
    auto add = [&](const nlohmann::json& n) -> bool {
      ConfigLine l;
      l.key = key;
      l.origin = origin;
      if (n.is_string()) l.value = n.get<std::string>();
      else if (n.is_boolean()) l.value = n.get<bool>() ? "true" : "false";
      else if (n.is_number()) l.value = n.dump();
      else if (n.is_null()) l.has_value = false;
      else {
        *err = origin + ": the value is an object, not a string, number, flag or list";
        return false;
      }
      out->push_back(std::move(l));
      return true;
    };
    if (v.is_array()) {
      for (auto& item : v)
        if (!add(item)) return false;
    } else if (!add(v)) {
      return false;
    }
  }
  return true;
}

}  // namespace uwsgi
