// A PCRE2 regular expression compiled once (at start-up), matched without recursion on the
// machine stack (JIT with its own heap stack per thread, or the heap-frame interpreter), so a
// match is safe on an async core's small fiber stack.
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace uwsgi {

// $0..$9 of the last successful match, copied (the subject may be a temporary).
struct Captures {
  static constexpr int kMax = 10;
  int count = 0;
  std::string group[kMax];
  std::string_view get(int i) const { return i < count ? std::string_view(group[i]) : std::string_view(); }
};

class RouteRegex {
 public:
  RouteRegex();
  ~RouteRegex();
  RouteRegex(RouteRegex&&) noexcept;
  RouteRegex& operator=(RouteRegex&&) noexcept;
  // false + *err (PCRE2's message and the offset) when the pattern is not valid.
  bool compile(const std::string& pattern, std::string* err);
  // Matches subject; on success fills *caps (when given) with the groups.
  bool match(std::string_view subject, Captures* caps) const;
  bool valid() const { return code_ != nullptr; }

 private:
  void* code_ = nullptr;  // pcre2_code_8*
  bool jit_ = false;
};

}  // namespace uwsgi
