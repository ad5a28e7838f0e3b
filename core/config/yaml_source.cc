// YAML config files (--yaml/--yml, file.yaml): the mapping under the section key ("uwsgi" by
// default) gives one line per key; a sequence value repeats the key; an empty value is a bare
// flag. Parsed by yaml-cpp (Debian's libyaml-cpp).
#include <yaml-cpp/yaml.h>

#include "config/config_lang.h"

namespace uwsgi {

bool read_yaml_lines(const std::string& path, const std::string& section_in, std::vector<ConfigLine>* out,
                     std::string* err) {
  std::string section = section_in.empty() ? "uwsgi" : section_in;
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    *err = "cannot open yaml file \"" + path + "\"";
    return false;
  } catch (const YAML::Exception& e) {
    *err = path + ":" + std::to_string(e.mark.line + 1) + ": bad yaml: " + e.msg;
    return false;
  }
  if (!root.IsMap() || !root[section]) {
    *err = "yaml file \"" + path + "\" has no \"" + section + ":\" mapping";
    return false;
  }
  YAML::Node sec = root[section];
  if (!sec.IsMap()) {
    *err = path + ":" + std::to_string(sec.Mark().line + 1) + ": \"" + section + ":\" is not a mapping";
    return false;
  }
  for (auto it = sec.begin(); it != sec.end(); ++it) {
    // Copies: the iterator's pair is a temporary proxy (a reference to it would dangle).
    YAML::Node k = it->first, v = it->second;
    std::string origin = path + ":" + std::to_string(k.Mark().line + 1);
    std::string key = k.as<std::string>("");
    auto add = [&](const YAML::Node& n) -> bool {
      if (!n.IsScalar() && !n.IsNull()) {
        *err = origin + ": the value of \"" + key + "\" is a mapping, not a scalar or a list";
        return false;
      }
      ConfigLine l;
      l.key = key;
      l.has_value = n.IsScalar();
      if (l.has_value) l.value = n.Scalar();
      l.origin = origin;
      out->push_back(std::move(l));
      return true;
    };
    if (v.IsSequence()) {
      for (const auto& item : v)
        if (!add(item)) return false;
    } else if (!add(v)) {
      return false;
    }
  }
  return true;
}

}  // namespace uwsgi
