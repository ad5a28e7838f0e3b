// XML config files (--xml, file.xml): the children of <uwsgi> (or of <uwsgi id="SECTION"> /
// <SECTION> for file.xml:SECTION) give one line each, in order; an empty element is a bare flag.
// Parsed by pugixml (Debian's libpugixml).
#include <pugixml.hpp>

#include <cstring>
#include <fstream>
#include <sstream>

#include "config/config_lang.h"

namespace uwsgi {

static int line_of(const std::string& text, ptrdiff_t offset) {
  int line = 1;
  for (ptrdiff_t i = 0; i < offset && i < (ptrdiff_t)text.size(); i++)
    if (text[(size_t)i] == '\n') line++;
  return line;
}

static pugi::xml_node find_section(const pugi::xml_document& doc, const std::string& section) {
  pugi::xml_node root = doc.document_element();
  if (section.empty()) return strcmp(root.name(), "uwsgi") == 0 ? root : root.child("uwsgi");
  auto matches = [&](pugi::xml_node n) {
    return (strcmp(n.name(), "uwsgi") == 0 && section == n.attribute("id").value()) || section == n.name();
  };
  if (matches(root)) return root;
  for (pugi::xml_node n : root.children())
    if (n.type() == pugi::node_element && matches(n)) return n;
  return {};
}

bool read_xml_lines(const std::string& path, const std::string& section, std::vector<ConfigLine>* out,
                    std::string* err) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    *err = "cannot open xml file \"" + path + "\"";
    return false;
  }
  std::stringstream ss;
  ss << f.rdbuf();
  std::string text = ss.str();
  pugi::xml_document doc;
  pugi::xml_parse_result res = doc.load_buffer(text.data(), text.size());
  if (!res) {
    *err = path + ":" + std::to_string(line_of(text, res.offset)) + ": bad xml: " + res.description();
    return false;
  }
  pugi::xml_node sec = find_section(doc, section);
  if (!sec) {
    *err = "xml file \"" + path + "\" has no <" + (section.empty() ? "uwsgi" : "uwsgi id=\"" + section + "\"") + "> element";
    return false;
  }
  for (pugi::xml_node n : sec.children()) {
    if (n.type() != pugi::node_element) continue;
    ConfigLine l;
    l.key = n.name();
    std::string v = n.text().get();
    size_t b = v.find_first_not_of(" \t\r\n"), e = v.find_last_not_of(" \t\r\n");
    l.value = b == std::string::npos ? "" : v.substr(b, e - b + 1);
    l.has_value = !n.first_child().empty();
    l.origin = path + ":" + std::to_string(line_of(text, n.offset_debug()));
    out->push_back(std::move(l));
  }
  return true;
}

}  // namespace uwsgi
