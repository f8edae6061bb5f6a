#include "metrics/jq.h"

#include <cmath>
#include <map>
#include <memory>

#include "common/strings.h"

extern "C" {
#include <jq.h>
#include <jv.h>
}

namespace iter8::metrics {
namespace {

// Collects messages jq reports while compiling or running.
void CollectError(void* data, jv msg) {
  auto* out = static_cast<std::string*>(data);
  jv text = jv_get_kind(msg) == JV_KIND_STRING ? jv_copy(msg) : jv_dump_string(jv_copy(msg), 0);
  if (!out->empty()) out->append("; ");
  out->append(jv_string_value(text));
  jv_free(text);
  jv_free(msg);
}

struct Program {
  jq_state* jq = nullptr;
  std::string errors;  // written by CollectError through jq's callback
  ~Program() {
    if (jq) jq_teardown(&jq);
  }
};

constexpr size_t kMaxCachedPrograms = 256;

class Cache {
 public:
  absl::StatusOr<Program*> Get(std::string_view expression) {
    auto it = programs_.find(std::string(expression));
    if (it != programs_.end()) return it->second.get();
    auto p = std::make_unique<Program>();
    p->jq = jq_init();
    if (!p->jq) return absl::ResourceExhaustedError("jq: cannot initialise");
    jq_set_error_cb(p->jq, CollectError, &p->errors);
    if (!jq_compile(p->jq, std::string(expression).c_str())) {
      return absl::InvalidArgumentError(
          StrCat("jq expression \"", expression, "\" does not compile: ", p->errors));
    }
    if (programs_.size() >= kMaxCachedPrograms) programs_.clear();
    Program* raw = p.get();
    programs_.emplace(std::string(expression), std::move(p));
    return raw;
  }
  size_t Size() const { return programs_.size(); }

 private:
  std::map<std::string, std::unique_ptr<Program>> programs_;
};

Cache& ThreadCache() {
  thread_local Cache cache;
  return cache;
}

std::string Describe(jv v) {  // consumes v
  jv s = jv_dump_string(v, 0);
  std::string out = jv_string_value(s);
  jv_free(s);
  if (out.size() > 80) out = out.substr(0, 77) + "...";
  return out;
}

}  // namespace

absl::StatusOr<double> JqFirstNumber(std::string_view expression, std::string_view input) {
  absl::StatusOr<Program*> program = ThreadCache().Get(expression);
  if (!program.ok()) return program.status();
  Program* p = *program;
  jv parsed = jv_parse_sized(input.data(), static_cast<int>(input.size()));
  if (!jv_is_valid(parsed)) {
    std::string why = "not JSON";
    if (jv_invalid_has_msg(jv_copy(parsed))) {
      jv msg = jv_invalid_get_msg(parsed);
      why = StrCat("not JSON (", jv_string_value(msg), ")");
      jv_free(msg);
    } else {
      jv_free(parsed);
    }
    return absl::InvalidArgumentError(StrCat("response is ", why));
  }
  p->errors.clear();
  jq_start(p->jq, parsed, 0);  // takes ownership of `parsed`
  jv result = jq_next(p->jq);
  absl::StatusOr<double> out;
  if (!jv_is_valid(result)) {
    if (jv_invalid_has_msg(jv_copy(result))) {
      jv msg = jv_invalid_get_msg(result);
      std::string text =
          jv_get_kind(msg) == JV_KIND_STRING ? jv_string_value(msg) : Describe(jv_copy(msg));
      jv_free(msg);
      out = absl::InvalidArgumentError(StrCat("jq error: ", text));
    } else {
      jv_free(result);
      out = absl::NotFoundError(
          StrCat("jq expression \"", expression, "\" produced no output (empty result?)"));
    }
  } else if (jv_get_kind(result) != JV_KIND_NUMBER) {
    out = absl::InvalidArgumentError(
        StrCat("jq output is not a number: ", Describe(jv_copy(result))));
    jv_free(result);
  } else {
    double v = jv_number_value(result);
    jv_free(result);
    if (!std::isfinite(v)) {
      out = absl::InvalidArgumentError(StrCat("jq output is not a finite number (", v, ")"));
    } else {
      out = v;
    }
  }
  return out;  // the next jq_start resets the state; later outputs are ignored
}

size_t JqCachedProgramsForTest() { return ThreadCache().Size(); }

}  // namespace iter8::metrics
