// "Did you mean": the known option closest to a misspelt one, for the unknown-option error.
#include <algorithm>

#include "config/options.h"

namespace uwsgi {

static size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); j++) row[j] = j;
  for (size_t i = 1; i <= a.size(); i++) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); j++) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string closest_option(const std::string& name, const OptionRegistry& reg, const std::vector<std::string>& more) {
  std::string n = name;
  for (auto& c : n)
    if (c == '_') c = '-';
  // Close means a typo or two, never most of the word.
  size_t best = std::min<size_t>(2, n.size() / 3) + 1;
  std::string found;
  auto consider = [&](const std::string& cand) {
    size_t d = edit_distance(n, cand);
    if (d < best) {
      best = d;
      found = cand;
    }
  };
  for (auto& o : reg.all()) {
    consider(o.def.name);
    for (auto& a : o.def.aliases) consider(a);
  }
  for (auto& m : more) consider(m);
  return found;
}

}  // namespace uwsgi
