// Which reader a config file takes: by the option that names it (--ini, --yaml, ...) or, for a
// bare path and `inherit`, by its extension.
#include <cstring>

#include "config/config_lang.h"

namespace uwsgi {

void split_spec(const std::string& spec, std::string* path, std::string* section) {
  size_t colon = spec.rfind(':');
  if (colon == std::string::npos || spec.find('/', colon) != std::string::npos) {
    *path = spec;
    section->clear();
    return;
  }
  *path = spec.substr(0, colon);
  *section = spec.substr(colon + 1);
}

std::string config_kind_of(const std::string& spec) {
  std::string path, section;
  split_spec(spec, &path, &section);
  size_t slash = path.rfind('/');
  size_t dot = path.rfind('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  std::string ext = path.substr(dot + 1);
  if (ext == "ini") return "ini";
  if (ext == "yaml" || ext == "yml") return "yaml";
  if (ext == "json" || ext == "js") return "json";
  if (ext == "xml") return "xml";
  return "";
}

bool is_include_key(const std::string& key, std::string* kind) {
  if (key == "ini") *kind = "ini";
  else if (key == "yaml" || key == "yml") *kind = "yaml";
  else if (key == "json" || key == "js") *kind = "json";
  else if (key == "xml") *kind = "xml";
  else if (key == "inherit") kind->clear();
  else return false;
  return true;
}

}  // namespace uwsgi
