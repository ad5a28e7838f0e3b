#include "routing/route_regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

namespace uwsgi {

RouteRegex::RouteRegex() = default;

RouteRegex::~RouteRegex() {
  if (code_) pcre2_code_free(static_cast<pcre2_code*>(code_));
}

RouteRegex::RouteRegex(RouteRegex&& o) noexcept : code_(o.code_), jit_(o.jit_) { o.code_ = nullptr; }

RouteRegex& RouteRegex::operator=(RouteRegex&& o) noexcept {
  if (this != &o) {
    if (code_) pcre2_code_free(static_cast<pcre2_code*>(code_));
    code_ = o.code_;
    jit_ = o.jit_;
    o.code_ = nullptr;
  }
  return *this;
}

bool RouteRegex::compile(const std::string& pattern, std::string* err) {
  int code;
  PCRE2_SIZE off;
  pcre2_code* re = pcre2_compile((PCRE2_SPTR)pattern.data(), pattern.size(), 0, &code, &off, nullptr);
  if (!re) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(code, msg, sizeof msg);
    *err = "invalid regular expression \"" + pattern + "\": " + (const char*)msg + " at offset " +
           std::to_string(off);
    return false;
  }
  if (code_) pcre2_code_free(static_cast<pcre2_code*>(code_));
  code_ = re;
  jit_ = pcre2_jit_compile(re, PCRE2_JIT_COMPLETE) == 0;
  return true;
}

namespace {
// Per thread (a worker's --threads each route their own requests); never shared across a
// suspension: a match runs to its end without yielding.
struct MatchScratch {
  pcre2_match_data* data = nullptr;
  pcre2_match_context* ctx = nullptr;
  pcre2_jit_stack* jit_stack = nullptr;
  MatchScratch() {
    data = pcre2_match_data_create(Captures::kMax, nullptr);
    ctx = pcre2_match_context_create(nullptr);
    // The JIT's stack on the heap, not 32 KiB of the (fiber's) machine stack.
    jit_stack = pcre2_jit_stack_create(32 * 1024, 512 * 1024, nullptr);
    if (ctx && jit_stack) pcre2_jit_stack_assign(ctx, nullptr, jit_stack);
  }
  ~MatchScratch() {
    pcre2_match_data_free(data);
    pcre2_match_context_free(ctx);
    pcre2_jit_stack_free(jit_stack);
  }
};
}  // namespace

bool RouteRegex::match(std::string_view subject, Captures* caps) const {
  if (!code_) return false;
  thread_local MatchScratch s;
  if (!s.data) return false;
  int rc = pcre2_match(static_cast<pcre2_code*>(code_), (PCRE2_SPTR)subject.data(), subject.size(), 0, 0, s.data,
                       s.ctx);
  if (rc < 0) return false;  // no match, or an error (match limit): not a match either way
  if (caps) {
    if (rc == 0) rc = Captures::kMax;  // more groups than the match data holds: the first ten
    PCRE2_SIZE* ov = pcre2_get_ovector_pointer(s.data);
    caps->count = rc;
    for (int i = 0; i < rc; i++) {
      if (ov[2 * i] == PCRE2_UNSET) caps->group[i].clear();
      else caps->group[i].assign(subject.data() + ov[2 * i], ov[2 * i + 1] - ov[2 * i]);
    }
  }
  return true;
}

}  // namespace uwsgi
