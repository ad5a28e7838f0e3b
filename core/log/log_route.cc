#include "log/log_route.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

namespace uwsgi {

struct LogRegex::Impl {
  pcre2_code* code = nullptr;
  ~Impl() {
    if (code) pcre2_code_free(code);
  }
};

LogRegex::LogRegex() : impl_(std::make_unique<Impl>()) {}
LogRegex::~LogRegex() = default;
LogRegex::LogRegex(LogRegex&&) noexcept = default;

bool LogRegex::compile(const std::string& pattern, std::string* err) {
  int code = 0;
  PCRE2_SIZE offset = 0;
  impl_->code = pcre2_compile((PCRE2_SPTR)pattern.data(), pattern.size(), 0, &code, &offset, nullptr);
  if (!impl_->code) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(code, msg, sizeof msg);
    *err = "bad regular expression \"" + pattern + "\": " + (const char*)msg + " at offset " +
           std::to_string((size_t)offset);
    return false;
  }
  pcre2_jit_compile(impl_->code, PCRE2_JIT_COMPLETE);  // best effort: without JIT it interprets
  return true;
}

bool LogRegex::matches(std::string_view line) const {
  if (!impl_->code) return false;
  pcre2_match_data* md = pcre2_match_data_create(1, nullptr);
  if (!md) return false;
  int rc = pcre2_match(impl_->code, (PCRE2_SPTR)line.data(), line.size(), 0, 0, md, nullptr);
  pcre2_match_data_free(md);
  return rc >= 0;
}

bool LogRoute::parse(const std::string& spec, std::string* err) {
  size_t sp = spec.find(' ');
  if (sp == std::string::npos || sp == 0 || sp + 1 >= spec.size()) {
    *err = "wants NAME REGEXP, not \"" + spec + "\"";
    return false;
  }
  logger = spec.substr(0, sp);
  return regex.compile(spec.substr(sp + 1), err);
}

}  // namespace uwsgi
