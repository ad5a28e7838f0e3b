// --log-route / --log-req-route NAME REGEXP: a line matching REGEXP (PCRE2, anywhere in the
// line) goes to the logger NAME. Compiled once at start-up; matching is thread safe (each call
// makes its own match data).
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace uwsgi {

class LogRegex {
 public:
  LogRegex();
  ~LogRegex();
  LogRegex(LogRegex&&) noexcept;
  // false with *err (PCRE2's message and the offset) for a bad expression.
  bool compile(const std::string& pattern, std::string* err);
  bool matches(std::string_view line) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct LogRoute {
  std::string logger;  // the logger's name
  LogRegex regex;
  // "NAME REGEXP" (one space separates; the expression may hold spaces).
  bool parse(const std::string& spec, std::string* err);
};

}  // namespace uwsgi
