// libFuzzer target for the resource loaders: YAML/JSON text -> documents -> typed resources ->
// defaults, validation, describe, and back to YAML and JSON. Any crash, sanitizer report, hang
// or uncaught exception is a bug: bad input must come back as a Status.
#include <cstddef>
#include <cstdint>
#include <string>

#include "api/document.h"
#include "api/load.h"
#include "api/validate.h"
#include "cli/describe.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto docs = iter8::api::ParseDocuments(text, "fuzz");
  if (!docs.ok()) return 0;
  for (const auto& doc : *docs) {
    (void)doc.json.dump();  // must not throw: strings are valid UTF-8
    (void)iter8::api::ToYaml(doc.json);
    auto r = iter8::api::LoadResource(doc);
    if (!r.ok()) continue;
    std::visit(
        [](auto& res) {
          iter8::api::Json j = iter8::api::EncodeResource(res);
          (void)iter8::api::ToYaml(j);
          iter8::api::ApplyDefaults(&res);
          (void)iter8::api::Validate(res);
          if constexpr (std::is_same_v<std::decay_t<decltype(res)>, iter8::api::Experiment>) {
            (void)iter8::cli::Describe(res, iter8::cli::DescribeFormatFor(res));
          }
        },
        *r);
  }
  return 0;
}
