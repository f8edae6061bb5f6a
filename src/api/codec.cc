#include "api/codec.h"

#include <array>
#include <limits>
#include <tuple>
#include <type_traits>
#include <utility>

#include "common/strings.h"

namespace iter8::api {
namespace {

// ------------------------------------------------------------------ decoding context

class Ctx {
 public:
  void Error(std::string message) { errors_.push_back({Pointer(), std::move(message)}); }
  std::string Pointer() const {
    std::string p;
    for (const auto& seg : path_) {
      p += '/';
      p += StrReplaceAll(seg, {{"~", "~0"}, {"/", "~1"}});
    }
    return p;
  }
  void Push(std::string seg) { path_.push_back(std::move(seg)); }
  void Pop() { path_.pop_back(); }
  std::vector<FieldError> Take() { return std::move(errors_); }

 private:
  std::vector<std::string> path_;
  std::vector<FieldError> errors_;
};

class Scope {
 public:
  Scope(Ctx& c, std::string seg) : c_(c) { c_.Push(std::move(seg)); }
  ~Scope() { c_.Pop(); }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  Ctx& c_;
};

std::string_view TypeName(const Json& j) {
  switch (j.type()) {
    case Json::value_t::null:
      return "null";
    case Json::value_t::object:
      return "object";
    case Json::value_t::array:
      return "array";
    case Json::value_t::string:
      return "string";
    case Json::value_t::boolean:
      return "boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
      return "integer";
    case Json::value_t::number_float:
      return "number";
    default:
      return "binary";
  }
}

std::string Expected(std::string_view what, const Json& got) {
  return StrCat("Invalid value: expected ", what, ", got ", TypeName(got));
}

template <typename T>
struct Tag {};

// ------------------------------------------------------------------ field descriptors

enum Flags : int {
  kOmitEmpty = 0,
  kRequired = 1,    // decode: missing/null is an error; encode: always written
  kAlwaysEmit = 2,  // encode: written even when empty/zero (Go field without omitempty)
};

template <typename S, typename M>
struct Field {
  std::string_view key;
  M S::*member;
  int flags;
};

// `F<S>("key", &S::member)`: S may be a derived class of the member's class.
template <typename S, typename M, typename B>
constexpr Field<S, M> F(std::string_view key, M B::*member, int flags = kOmitEmpty) {
  return Field<S, M>{key, static_cast<M S::*>(member), flags};
}

template <typename T>
struct Codec;

template <typename T>
void DecodeValue(const Json& j, Ctx& c, T* out) {
  Codec<T>::Decode(j, c, out);
}
template <typename T>
Json EncodeValue(const T& v) {
  return Codec<T>::Encode(v);
}
template <typename T>
bool IsEmpty(const T& v) {
  return Codec<T>::Empty(v);
}

// ------------------------------------------------------------------ scalar codecs

template <>
struct Codec<std::string> {
  static void Decode(const Json& j, Ctx& c, std::string* out) {
    if (!j.is_string()) return c.Error(Expected("string", j));
    *out = j.get<std::string>();
  }
  static Json Encode(const std::string& v) { return v; }
  static bool Empty(const std::string& v) { return v.empty(); }
};

template <>
struct Codec<bool> {
  static void Decode(const Json& j, Ctx& c, bool* out) {
    if (!j.is_boolean()) return c.Error(Expected("boolean", j));
    *out = j.get<bool>();
  }
  static Json Encode(bool v) { return v; }
  static bool Empty(bool v) { return !v; }
};

template <typename I>
requires std::is_same_v<I, int32_t> || std::is_same_v<I, int64_t>
struct Codec<I> {
  static void Decode(const Json& j, Ctx& c, I* out) {
    if (j.is_number_integer() && !j.is_number_unsigned()) {
      int64_t v = j.get<int64_t>();
      if (v < std::numeric_limits<I>::min() || v > std::numeric_limits<I>::max()) {
        return c.Error(
            StrCat("Invalid value: ", v, ": out of range for a ", sizeof(I) * 8, "-bit integer"));
      }
      *out = static_cast<I>(v);
      return;
    }
    if (j.is_number_unsigned()) {
      uint64_t v = j.get<uint64_t>();
      if (v > static_cast<uint64_t>(std::numeric_limits<I>::max())) {
        return c.Error(
            StrCat("Invalid value: ", v, ": out of range for a ", sizeof(I) * 8, "-bit integer"));
      }
      *out = static_cast<I>(v);
      return;
    }
    c.Error(Expected("integer", j));
  }
  static Json Encode(I v) { return v; }
  static bool Empty(I v) { return v == 0; }
};

template <>
struct Codec<Json> {
  static void Decode(const Json& j, Ctx&, Json* out) { *out = j; }
  static Json Encode(const Json& v) { return v; }
  static bool Empty(const Json& v) { return v.is_null(); }
};

template <>
struct Codec<Quantity> {
  static void Decode(const Json& j, Ctx& c, Quantity* out) {
    absl::StatusOr<Quantity> q;
    if (j.is_string()) {
      q = Quantity::Parse(j.get<std::string>());
    } else if (j.is_number_integer()) {
      q = Quantity::Parse(j.dump());
    } else if (j.is_number_float()) {
      q = Quantity::FromDouble(j.get<double>());
    } else {
      return c.Error(Expected("quantity (string or number)", j));
    }
    if (!q.ok()) return c.Error(StrCat("Invalid value: ", q.status().message()));
    *out = *q;
  }
  static Json Encode(const Quantity& v) { return v.ToString(); }
  static bool Empty(const Quantity&) { return false; }
};

template <>
struct Codec<absl::Time> {
  static void Decode(const Json& j, Ctx& c, absl::Time* out) {
    if (!j.is_string()) return c.Error(Expected("RFC 3339 time string", j));
    absl::StatusOr<absl::Time> t = ParseRfc3339(j.get<std::string>());
    if (!t.ok()) return c.Error(StrCat("Invalid value: ", t.status().message()));
    *out = *t;
  }
  static Json Encode(absl::Time v) { return FormatRfc3339(v); }
  static bool Empty(absl::Time) { return false; }
};

// ------------------------------------------------------------------ enums

template <typename E>
struct EnumNames;

#define ITER8_ENUM_NAMES(E, ...)                                               \
  template <>                                                                  \
  struct EnumNames<E> {                                                        \
    static constexpr std::pair<E, std::string_view> kValues[] = {__VA_ARGS__}; \
  };

ITER8_ENUM_NAMES(TestingPattern, {TestingPattern::kCanary, "Canary"}, {TestingPattern::kAB, "A/B"},
                 {TestingPattern::kABN, "A/B/N"}, {TestingPattern::kConformance, "Conformance"})
ITER8_ENUM_NAMES(DeploymentPattern, {DeploymentPattern::kFixedSplit, "FixedSplit"},
                 {DeploymentPattern::kProgressive, "Progressive"},
                 {DeploymentPattern::kBlueGreen, "BlueGreen"})
ITER8_ENUM_NAMES(PreferredDirection, {PreferredDirection::kHigh, "High"},
                 {PreferredDirection::kLow, "Low"})
ITER8_ENUM_NAMES(MetricType, {MetricType::kCounter, "Counter"}, {MetricType::kGauge, "Gauge"})
ITER8_ENUM_NAMES(HttpMethod, {HttpMethod::kGet, "GET"}, {HttpMethod::kPost, "POST"})
ITER8_ENUM_NAMES(AuthType, {AuthType::kBasic, "Basic"}, {AuthType::kBearer, "Bearer"},
                 {AuthType::kAPIKey, "APIKey"})
ITER8_ENUM_NAMES(ConditionStatus, {ConditionStatus::kTrue, "True"},
                 {ConditionStatus::kFalse, "False"}, {ConditionStatus::kUnknown, "Unknown"})
ITER8_ENUM_NAMES(Stage, {Stage::kWaiting, "Waiting"}, {Stage::kInitializing, "Initializing"},
                 {Stage::kRunning, "Running"}, {Stage::kFinishing, "Finishing"},
                 {Stage::kCompleted, "Completed"})
#undef ITER8_ENUM_NAMES

template <typename E>
requires std::is_enum_v<E>
struct Codec<E> {
  static void Decode(const Json& j, Ctx& c, E* out) {
    if (!j.is_string()) return c.Error(Expected("string", j));
    const std::string s = j.get<std::string>();
    for (const auto& [value, name] : EnumNames<E>::kValues) {
      if (s == name) {
        *out = value;
        return;
      }
    }
    std::vector<std::string> quoted;
    for (const auto& [value, name] : EnumNames<E>::kValues) {
      quoted.push_back(StrCat("\"", name, "\""));
    }
    c.Error(StrCat("Unsupported value: \"", s, "\": supported values: ", StrJoin(quoted, ", ")));
  }
  static Json Encode(E v) {
    for (const auto& [value, name] : EnumNames<E>::kValues) {
      if (value == v) return std::string(name);
    }
    return nullptr;
  }
  static bool Empty(E) { return false; }
};

template <typename E>
std::string_view EnumToString(E v) {
  for (const auto& [value, name] : EnumNames<E>::kValues) {
    if (value == v) return name;
  }
  return "";
}

// ------------------------------------------------------------------ containers

template <typename T>
struct Codec<std::optional<T>> {
  static void Decode(const Json& j, Ctx& c, std::optional<T>* out) {
    T v{};
    DecodeValue(j, c, &v);
    *out = std::move(v);
  }
  static Json Encode(const std::optional<T>& v) { return v ? EncodeValue(*v) : Json(nullptr); }
  static bool Empty(const std::optional<T>& v) { return !v.has_value(); }
};

template <typename T>
struct Codec<std::vector<T>> {
  static void Decode(const Json& j, Ctx& c, std::vector<T>* out) {
    if (!j.is_array()) return c.Error(Expected("array", j));
    out->clear();
    out->reserve(j.size());
    for (size_t i = 0; i < j.size(); ++i) {
      Scope s(c, std::to_string(i));
      T v{};
      DecodeValue(j[i], c, &v);
      out->push_back(std::move(v));
    }
  }
  static Json Encode(const std::vector<T>& v) {
    Json a = Json::array();
    for (const auto& e : v) a.push_back(EncodeValue(e));
    return a;
  }
  static bool Empty(const std::vector<T>& v) { return v.empty(); }
};

template <typename T>
struct Codec<std::map<std::string, T>> {
  static void Decode(const Json& j, Ctx& c, std::map<std::string, T>* out) {
    if (!j.is_object()) return c.Error(Expected("object", j));
    out->clear();
    for (auto it = j.begin(); it != j.end(); ++it) {
      Scope s(c, it.key());
      T v{};
      // A null map value means "empty" (e.g. `actions: {loop: null}` in the original's fixtures).
      if (!it.value().is_null()) DecodeValue(it.value(), c, &v);
      (*out)[it.key()] = std::move(v);
    }
  }
  static Json Encode(const std::map<std::string, T>& v) {
    Json o = Json::object();
    for (const auto& [k, e] : v) o[k] = EncodeValue(e);
    return o;
  }
  static bool Empty(const std::map<std::string, T>& v) { return v.empty(); }
};

// ------------------------------------------------------------------ structs

// The API server accepts explicit nulls in ObjectMeta (kubectl writes `creationTimestamp: null`)
// and at the top level (`status: null`; status is owned by the status subresource) but rejects
// them for schema-typed fields inside iter8's specs.
template <typename S>
inline constexpr bool kNullIsAbsent =
    std::is_same_v<S, ObjectMeta> || std::is_same_v<S, Experiment> || std::is_same_v<S, Metric>;

template <typename S>
concept HasFields = requires {
  FieldsOf(Tag<S>{});
};

template <typename S>
requires HasFields<S>
struct Codec<S> {
  static void Decode(const Json& j, Ctx& c, S* out) {
    if (!j.is_object()) return c.Error(Expected("object", j));
    const auto fields = FieldsOf(Tag<S>{});
    std::apply([&](const auto&... f) { (DecodeField(j, c, out, f), ...); }, fields);
    for (auto it = j.begin(); it != j.end(); ++it) {
      bool known =
          std::apply([&](const auto&... f) { return ((f.key == it.key()) || ...); }, fields);
      if (!known) out->extra[it.key()] = it.value();
    }
  }
  static Json Encode(const S& v) {
    Json o = Json::object();
    std::apply([&](const auto&... f) { (EncodeField(o, v, f), ...); }, FieldsOf(Tag<S>{}));
    for (auto it = v.extra.begin(); it != v.extra.end(); ++it) {
      if (!o.contains(it.key())) o[it.key()] = it.value();
    }
    return o;
  }
  static bool Empty(const S&) { return false; }

 private:
  template <typename M>
  static void DecodeField(const Json& j, Ctx& c, S* out, const Field<S, M>& f) {
    auto it = j.find(std::string(f.key));
    if (it == j.end() || (it->is_null() && (kNullIsAbsent<S> || std::is_same_v<M, Json>))) {
      if (f.flags & kRequired) {
        Scope s(c, std::string(f.key));
        c.Error("Required value");
      }
      return;
    }
    Scope s(c, std::string(f.key));
    DecodeValue(*it, c, &(out->*f.member));
  }
  template <typename M>
  static void EncodeField(Json& o, const S& v, const Field<S, M>& f) {
    const M& m = v.*f.member;
    if ((f.flags & (kRequired | kAlwaysEmit)) == 0 && IsEmpty(m)) return;
    Json e = EncodeValue(m);
    if (e.is_null() && (f.flags & (kRequired | kAlwaysEmit)) == 0) return;
    o[std::string(f.key)] = std::move(e);
  }
};

// Field tables, in the order the original's Go structs declare them.

auto FieldsOf(Tag<ObjectMeta>) {
  using S = ObjectMeta;
  return std::tuple{
      F<S>("name", &S::name),
      F<S>("generateName", &S::generate_name),
      F<S>("namespace", &S::namespace_),
      F<S>("uid", &S::uid),
      F<S>("resourceVersion", &S::resource_version),
      F<S>("generation", &S::generation),
      F<S>("creationTimestamp", &S::creation_timestamp),
      F<S>("deletionTimestamp", &S::deletion_timestamp),
      F<S>("labels", &S::labels),
      F<S>("annotations", &S::annotations),
  };
}

auto FieldsOf(Tag<ObjectReference>) {
  using S = ObjectReference;
  return std::tuple{
      F<S>("kind", &S::kind),
      F<S>("namespace", &S::namespace_),
      F<S>("name", &S::name),
      F<S>("uid", &S::uid),
      F<S>("apiVersion", &S::api_version),
      F<S>("resourceVersion", &S::resource_version),
      F<S>("fieldPath", &S::field_path),
  };
}

auto FieldsOf(Tag<NamedValue>) {
  using S = NamedValue;
  return std::tuple{F<S>("name", &S::name, kRequired), F<S>("value", &S::value, kRequired)};
}

auto FieldsOf(Tag<VersionDetail>) {
  using S = VersionDetail;
  return std::tuple{
      F<S>("name", &S::name, kRequired),
      F<S>("variables", &S::variables),
      F<S>("weightObjRef", &S::weight_obj_ref),
  };
}

auto FieldsOf(Tag<VersionInfo>) {
  using S = VersionInfo;
  return std::tuple{F<S>("baseline", &S::baseline, kRequired), F<S>("candidates", &S::candidates)};
}

auto FieldsOf(Tag<TaskSpec>) {
  using S = TaskSpec;
  return std::tuple{F<S>("task", &S::task), F<S>("run", &S::run), F<S>("if", &S::if_),
                    F<S>("with", &S::with)};
}

auto FieldsOf(Tag<Weights>) {
  using S = Weights;
  return std::tuple{F<S>("maxCandidateWeight", &S::max_candidate_weight),
                    F<S>("maxCandidateWeightIncrement", &S::max_candidate_weight_increment)};
}

auto FieldsOf(Tag<Strategy>) {
  using S = Strategy;
  return std::tuple{
      F<S>("testingPattern", &S::testing_pattern, kRequired),
      F<S>("deploymentPattern", &S::deployment_pattern),
      F<S>("actions", &S::actions),
      F<S>("weights", &S::weights),
  };
}

auto FieldsOf(Tag<Reward>) {
  using S = Reward;
  return std::tuple{F<S>("metric", &S::metric, kRequired),
                    F<S>("preferredDirection", &S::preferred_direction, kRequired)};
}

auto FieldsOf(Tag<Objective>) {
  using S = Objective;
  return std::tuple{
      F<S>("metric", &S::metric, kRequired),
      F<S>("upperLimit", &S::upper_limit),
      F<S>("lowerLimit", &S::lower_limit),
      F<S>("rollback_on_failure", &S::rollback_on_failure),
  };
}

auto FieldsOf(Tag<Criteria>) {
  using S = Criteria;
  return std::tuple{
      F<S>("requestCount", &S::request_count), F<S>("rewards", &S::rewards),
      F<S>("indicators", &S::indicators),      F<S>("objectives", &S::objectives),
      F<S>("strength", &S::strength),
  };
}

auto FieldsOf(Tag<Duration>) {
  using S = Duration;
  return std::tuple{
      F<S>("intervalSeconds", &S::interval_seconds),
      F<S>("iterationsPerLoop", &S::iterations_per_loop),
      F<S>("maxLoops", &S::max_loops),
  };
}

auto FieldsOf(Tag<ExperimentSpec>) {
  using S = ExperimentSpec;
  return std::tuple{
      F<S>("target", &S::target, kRequired),
      F<S>("versionInfo", &S::version_info),
      F<S>("strategy", &S::strategy, kRequired),
      F<S>("criteria", &S::criteria),
      F<S>("duration", &S::duration),
  };
}

auto FieldsOf(Tag<NamedLevel>) {
  using S = NamedLevel;
  return std::tuple{F<S>("name", &S::name, kRequired), F<S>("level", &S::level, kRequired)};
}

auto FieldsOf(Tag<MetricSpec>) {
  using S = MetricSpec;
  return std::tuple{
      F<S>("params", &S::params),
      F<S>("description", &S::description),
      F<S>("units", &S::units),
      F<S>("provider", &S::provider),
      F<S>("jqExpression", &S::jq_expression),
      F<S>("secret", &S::secret),
      F<S>("headerTemplates", &S::header_templates),
      F<S>("type", &S::type),
      F<S>("sampleSize", &S::sample_size),
      F<S>("authType", &S::auth_type),
      F<S>("method", &S::method),
      F<S>("body", &S::body),
      F<S>("urlTemplate", &S::url_template),
      F<S>("mock", &S::mock),
  };
}

auto FieldsOf(Tag<Metric>) {
  using S = Metric;
  return std::tuple{
      F<S>("apiVersion", &S::api_version),
      F<S>("kind", &S::kind),
      F<S>("metadata", &S::metadata, kAlwaysEmit),
      F<S>("spec", &S::spec, kAlwaysEmit),
  };
}

auto FieldsOf(Tag<ExperimentCondition>) {
  using S = ExperimentCondition;
  return std::tuple{
      F<S>("type", &S::type, kRequired),
      F<S>("status", &S::status, kRequired),
      F<S>("lastTransitionTime", &S::last_transition_time),
      F<S>("reason", &S::reason),
      F<S>("message", &S::message),
  };
}

auto FieldsOf(Tag<VersionWeight>) {
  using S = VersionWeight;
  return std::tuple{F<S>("name", &S::name, kRequired), F<S>("value", &S::value, kRequired)};
}

auto FieldsOf(Tag<AggregatedMetricsVersionData>) {
  using S = AggregatedMetricsVersionData;
  return std::tuple{F<S>("max", &S::max), F<S>("min", &S::min), F<S>("value", &S::value),
                    F<S>("sampleSize", &S::sample_size)};
}

auto FieldsOf(Tag<AggregatedMetricsData>) {
  using S = AggregatedMetricsData;
  return std::tuple{F<S>("max", &S::max), F<S>("min", &S::min),
                    F<S>("data", &S::data, kAlwaysEmit)};
}

template <typename S>
auto MetaFields() {
  return std::tuple{F<S>("provenance", &S::provenance, kAlwaysEmit),
                    F<S>("timestamp", &S::timestamp), F<S>("message", &S::message)};
}

auto FieldsOf(Tag<AggregatedMetricsAnalysis>) {
  using S = AggregatedMetricsAnalysis;
  return std::tuple_cat(MetaFields<S>(), std::tuple{F<S>("data", &S::data, kAlwaysEmit)});
}

auto FieldsOf(Tag<VersionAssessmentAnalysis>) {
  using S = VersionAssessmentAnalysis;
  return std::tuple_cat(MetaFields<S>(), std::tuple{F<S>("data", &S::data, kAlwaysEmit)});
}

auto FieldsOf(Tag<WinnerAssessmentData>) {
  using S = WinnerAssessmentData;
  return std::tuple{F<S>("winnerFound", &S::winner_found, kAlwaysEmit), F<S>("winner", &S::winner),
                    F<S>("bestVersions", &S::best_versions)};
}

auto FieldsOf(Tag<WinnerAssessmentAnalysis>) {
  using S = WinnerAssessmentAnalysis;
  return std::tuple_cat(MetaFields<S>(), std::tuple{F<S>("data", &S::data, kAlwaysEmit)});
}

auto FieldsOf(Tag<WeightsAnalysis>) {
  using S = WeightsAnalysis;
  return std::tuple_cat(MetaFields<S>(), std::tuple{F<S>("data", &S::data, kAlwaysEmit)});
}

auto FieldsOf(Tag<Analysis>) {
  using S = Analysis;
  return std::tuple{
      F<S>("aggregatedBuiltinHists", &S::aggregated_builtin_hists),
      F<S>("aggregatedMetrics", &S::aggregated_metrics),
      F<S>("versionAssessments", &S::version_assessments),
      F<S>("winnerAssessment", &S::winner_assessment),
      F<S>("weights", &S::weights),
  };
}

auto FieldsOf(Tag<MetricInfo>) {
  using S = MetricInfo;
  return std::tuple{F<S>("name", &S::name, kRequired),
                    F<S>("metricObj", &S::metric_obj, kRequired)};
}

auto FieldsOf(Tag<ExperimentStatus>) {
  using S = ExperimentStatus;
  return std::tuple{
      F<S>("conditions", &S::conditions),
      F<S>("initTime", &S::init_time),
      F<S>("lastUpdateTime", &S::last_update_time),
      F<S>("stage", &S::stage),
      F<S>("completedIterations", &S::completed_iterations),
      F<S>("currentWeightDistribution", &S::current_weight_distribution),
      F<S>("analysis", &S::analysis),
      F<S>("versionRecommendedForPromotion", &S::version_recommended_for_promotion),
      F<S>("message", &S::message),
      F<S>("metrics", &S::metrics),
      F<S>("startTime", &S::start_time),
  };
}

auto FieldsOf(Tag<Experiment>) {
  using S = Experiment;
  return std::tuple{
      F<S>("apiVersion", &S::api_version),         F<S>("kind", &S::kind),
      F<S>("metadata", &S::metadata, kAlwaysEmit), F<S>("spec", &S::spec, kAlwaysEmit),
      F<S>("status", &S::status, kAlwaysEmit),
  };
}

bool StatusIsEmpty(const Json& status) { return status.is_object() && status.empty(); }

}  // namespace

// ------------------------------------------------------------------ public API

std::string_view ToString(TestingPattern v) { return EnumToString(v); }
std::string_view ToString(DeploymentPattern v) { return EnumToString(v); }
std::string_view ToString(PreferredDirection v) { return EnumToString(v); }
std::string_view ToString(MetricType v) { return EnumToString(v); }
std::string_view ToString(HttpMethod v) { return EnumToString(v); }
std::string_view ToString(AuthType v) { return EnumToString(v); }
std::string_view ToString(ConditionStatus v) { return EnumToString(v); }
std::string_view ToString(Stage v) { return EnumToString(v); }

std::vector<const VersionDetail*> AllVersions(const ExperimentSpec& spec) {
  std::vector<const VersionDetail*> out;
  if (!spec.version_info) return out;
  out.push_back(&spec.version_info->baseline);
  for (const auto& c : spec.version_info->candidates) out.push_back(&c);
  return out;
}

bool ConditionIsTrue(const ExperimentStatus& status, std::string_view type) {
  for (const ExperimentCondition& c : status.conditions) {
    if (c.type == type) return c.status == ConditionStatus::kTrue;
  }
  return false;
}

std::vector<std::string> VersionNames(const ExperimentSpec& spec) {
  std::vector<std::string> names;
  for (const VersionDetail* v : AllVersions(spec)) names.push_back(v->name);
  return names;
}

Decoded<Experiment> DecodeExperiment(const Json& json) {
  Ctx c;
  Decoded<Experiment> d;
  DecodeValue(json, c, &d.value);
  d.errors = c.Take();
  return d;
}

Decoded<Metric> DecodeMetric(const Json& json) {
  Ctx c;
  Decoded<Metric> d;
  DecodeValue(json, c, &d.value);
  d.errors = c.Take();
  return d;
}

Json EncodeExperiment(const Experiment& experiment) {
  Json j = EncodeValue(experiment);
  if (StatusIsEmpty(j["status"])) j.erase("status");
  return j;
}

Json EncodeMetric(const Metric& metric) { return EncodeValue(metric); }

std::string JoinErrors(const std::vector<FieldError>& errors) {
  std::vector<std::string> lines;
  for (const auto& e : errors) {
    lines.push_back(StrCat(e.pointer.empty() ? "/" : e.pointer, ": ", e.message));
  }
  return StrJoin(lines, "\n");
}

absl::StatusOr<Experiment> ExperimentFromJson(const Json& json) {
  Decoded<Experiment> d = DecodeExperiment(json);
  if (!d.errors.empty()) return absl::InvalidArgumentError(JoinErrors(d.errors));
  return std::move(d.value);
}

absl::StatusOr<Metric> MetricFromJson(const Json& json) {
  Decoded<Metric> d = DecodeMetric(json);
  if (!d.errors.empty()) return absl::InvalidArgumentError(JoinErrors(d.errors));
  return std::move(d.value);
}

std::string FormatRfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d%ET%H:%M:%SZ", t, absl::UTCTimeZone());
}

absl::StatusOr<absl::Time> ParseRfc3339(std::string_view text) {
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, std::string(text), &t, &err)) {
    return absl::InvalidArgumentError(
        StrCat("\"", text, "\" is not an RFC 3339 time (e.g. 2021-04-23T17:02:52Z)"));
  }
  // metav1.Time keeps whole seconds.
  return absl::FromUnixSeconds(absl::ToUnixSeconds(t));
}

}  // namespace iter8::api
