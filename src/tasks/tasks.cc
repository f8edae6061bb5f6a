#include "tasks/tasks.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "absl/time/clock.h"
#include "api/codec.h"
#include "common/strings.h"
#include "metrics/http_client.h"
#include "tasks/collect.h"

extern char** environ;

namespace iter8::tasks {
namespace {

using api::Json;

absl::StatusOr<std::string> StringField(const Json& with, const char* key, bool required) {
  if (!with.is_object() || !with.contains(key)) {
    if (required) return absl::InvalidArgumentError(StrCat("with.", key, ": required"));
    return std::string();
  }
  const Json& v = with[key];
  if (!v.is_string()) return absl::InvalidArgumentError(StrCat("with.", key, ": must be a string"));
  return v.get<std::string>();
}

absl::StatusOr<int> IntField(const Json& with, const char* key, int fallback) {
  if (!with.is_object() || !with.contains(key)) return fallback;
  const Json& v = with[key];
  if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > 86400) {
    return absl::InvalidArgumentError(StrCat("with.", key, ": must be an integer in [0, 86400]"));
  }
  return static_cast<int>(v.get<int64_t>());
}

bool Cancelled(const TaskEnv& env) {
  return env.cancel != nullptr && env.cancel->load(std::memory_order_relaxed);
}

// Sleeps up to `d`, waking early when the action is cancelled.
bool SleepUnlessCancelled(absl::Duration d, const TaskEnv& env) {
  const absl::Time end = absl::Now() + d;
  while (absl::Now() < end) {
    if (Cancelled(env)) return false;
    absl::SleepFor(std::min(absl::Milliseconds(50), end - absl::Now()));
  }
  return !Cancelled(env);
}

// Runs argv without a shell; output goes to the log. Killed at the deadline.
absl::Status RunProcess(const std::vector<std::string>& argv, const TaskEnv& env) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return absl::InternalError("pipe failed");
  // fork + exec rather than posix_spawn, for PR_SET_PDEATHSIG: if iter8 is killed (even with
  // -9) the action's process is killed too instead of living on as an orphan.
  int err_fds[2];  // reports an exec failure (closed on a successful exec)
  if (::pipe2(err_fds, O_CLOEXEC) != 0) {
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    return absl::InternalError("pipe failed");
  }
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {  // child: async-signal-safe calls only
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the parent died before prctl
    ::dup2(pipe_fds[1], 1);
    ::dup2(pipe_fds[1], 2);
    ::execvp(args[0], args.data());
    const int e = errno;
    (void)!::write(err_fds[1], &e, sizeof e);
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  ::close(err_fds[1]);
  int exec_errno = 0;
  const ssize_t got = pid > 0 ? ::read(err_fds[0], &exec_errno, sizeof exec_errno) : 0;
  ::close(err_fds[0]);
  if (pid < 0 || got == static_cast<ssize_t>(sizeof exec_errno)) {
    if (pid > 0) ::waitpid(pid, nullptr, 0);
    ::close(pipe_fds[0]);
    return absl::FailedPreconditionError(
        StrCat("cannot run ", argv[0], ": ", std::strerror(pid < 0 ? errno : exec_errno)));
  }
  ::fcntl(pipe_fds[0], F_SETFL, O_NONBLOCK);
  const absl::Time deadline = absl::Now() + env.timeout;
  std::string output;
  int status = 0;
  bool exited = false, timed_out = false;
  char buf[4096];
  while (!exited) {
    ssize_t n;
    while ((n = ::read(pipe_fds[0], buf, sizeof buf)) > 0) {
      if (output.size() < (1 << 20)) output.append(buf, static_cast<size_t>(n));
    }
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      exited = true;
      break;
    }
    if (Cancelled(env)) {
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      ::close(pipe_fds[0]);
      return absl::CancelledError(StrCat(argv[0], ": killed, iter8 is stopping"));
    }
    if (absl::Now() > deadline) {
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      timed_out = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ssize_t n;
  while ((n = ::read(pipe_fds[0], buf, sizeof buf)) > 0) output.append(buf, static_cast<size_t>(n));
  ::close(pipe_fds[0]);
  if (!output.empty()) env.log(output);
  if (timed_out) {
    return absl::DeadlineExceededError(
        StrCat(argv[0], ": killed after ", absl::FormatDuration(env.timeout)));
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return absl::OkStatus();
  if (WIFEXITED(status)) {
    return absl::UnknownError(StrCat(argv[0], ": exit status ", WEXITSTATUS(status)));
  }
  return absl::UnknownError(StrCat(argv[0], ": killed by signal ", WTERMSIG(status)));
}

std::string Summary(const api::Experiment& e, engine::HandlerType type) {
  Json s = Json::object();
  s["experiment"] = StrCat(e.metadata.namespace_, "/", e.metadata.name);
  s["action"] = engine::ActionKey(type);
  s["handler"] = std::string(engine::ToString(type));
  s["target"] = e.spec.target;
  s["stage"] = e.status.stage ? std::string(api::ToString(*e.status.stage)) : "";
  s["completedIterations"] = e.status.completed_iterations.value_or(0);
  s["versionRecommendedForPromotion"] = e.status.version_recommended_for_promotion;
  s["message"] = e.status.message;
  return s.dump();
}

absl::Status Post(const std::string& method, const std::string& url,
                  std::vector<std::pair<std::string, std::string>> headers, const std::string& body,
                  const TaskEnv& env) {
  metrics::HttpClientOptions o;
  o.timeout = std::min(env.timeout, absl::Seconds(30));
  metrics::HttpClient client(o);
  metrics::HttpRequest req;
  req.method = method;
  req.url = url;
  req.headers = std::move(headers);
  req.body = body;
  absl::StatusOr<metrics::HttpResponse> resp = client.Do(req);
  if (!resp.ok()) return resp.status();
  if (resp->status < 200 || resp->status >= 300) {
    return absl::UnavailableError(StrCat(method, " ", url, ": HTTP ", resp->status));
  }
  return absl::OkStatus();
}

absl::Status Exec(const Json& with, const TaskEnv& env,
                  const std::map<std::string, std::string>& values) {
  absl::StatusOr<std::string> cmd = StringField(with, "cmd", true);
  if (!cmd.ok()) return cmd.status();
  const bool raw = with.is_object() && with.value("disableInterpolation", false);
  std::vector<std::string> argv = {*cmd};
  if (with.contains("args")) {
    if (!with["args"].is_array()) return absl::InvalidArgumentError("with.args: must be a list");
    for (size_t i = 0; i < with["args"].size(); ++i) {
      const Json& a = with["args"][i];
      if (!a.is_string() && !a.is_number()) {
        return absl::InvalidArgumentError(StrCat("with.args[", i, "]: must be a string"));
      }
      std::string arg = a.is_string() ? a.get<std::string>() : a.dump();
      if (!raw) {
        absl::StatusOr<std::string> r = RenderTemplate(arg, values);
        if (!r.ok())
          return absl::InvalidArgumentError(StrCat("with.args[", i, "]: ", r.status().message()));
        arg = *r;
      }
      argv.push_back(arg);
    }
  }
  return RunProcess(argv, env);
}

absl::Status Promote(const TaskEnv& env) {
  if (env.traffic == nullptr) return absl::FailedPreconditionError("no traffic driver");
  const api::Experiment& e = *env.experiment;
  if (!e.spec.version_info) return absl::FailedPreconditionError("no versionInfo");
  const std::string winner = TemplateValues(e, env.type).at("name");
  std::vector<engine::WeightPatch> patches;
  for (const api::VersionDetail* v : api::AllVersions(e.spec)) {
    engine::AddWeightOp(e, *v, v->name == winner ? 100 : 0, &patches);
  }
  for (const auto& p : patches) {
    absl::Status s = env.traffic->Apply(p);
    if (!s.ok()) return s;
  }
  env.log(StrCat("promoted ", winner, ": 100 % of traffic"));
  return absl::OkStatus();
}

absl::Status RunOne(const api::TaskSpec& task, const TaskEnv& env) {
  const Json& with = task.with.is_null() ? Json::object() : task.with;
  const std::map<std::string, std::string> values = TemplateValues(*env.experiment, env.type);
  auto render = [&](const char* key, bool required) -> absl::StatusOr<std::string> {
    absl::StatusOr<std::string> s = StringField(with, key, required);
    if (!s.ok()) return s.status();
    absl::StatusOr<std::string> r = RenderTemplate(*s, values);
    if (!r.ok())
      return absl::InvalidArgumentError(StrCat("with.", key, ": ", r.status().message()));
    return r;
  };
  if (env.extra != nullptr) {
    auto it = env.extra->find(task.task);
    if (it != env.extra->end()) return it->second(with, env);
  }
  if (task.task == "common/exec") return Exec(with, env, values);
  if (task.task == "common/bash") {
    absl::StatusOr<std::string> script = render("script", true);
    if (!script.ok()) return script.status();
    return RunProcess({"/bin/bash", "-c", *script}, env);
  }
  if (task.task == "notification/http") {
    absl::StatusOr<std::string> url = render("url", true);
    if (!url.ok()) return url.status();
    absl::StatusOr<std::string> method = StringField(with, "method", false);
    if (!method.ok()) return method.status();
    absl::StatusOr<std::string> body = render("body", false);
    if (!body.ok()) return body.status();
    std::vector<std::pair<std::string, std::string>> headers = {
        {"Content-Type", "application/json"}};
    if (with.contains("headers")) {
      if (!with["headers"].is_object()) {
        return absl::InvalidArgumentError("with.headers: must be a map of strings");
      }
      for (const auto& [k, v] : with["headers"].items()) {
        if (!v.is_string())
          return absl::InvalidArgumentError(StrCat("with.headers.", k, ": must be a string"));
        headers.emplace_back(k, v.get<std::string>());
      }
    }
    const std::string m = method->empty() ? "POST" : *method;
    if (m != "POST" && m != "GET") {
      return absl::InvalidArgumentError("with.method: must be GET or POST");
    }
    return Post(m, *url, headers, body->empty() ? Summary(*env.experiment, env.type) : *body, env);
  }
  if (task.task == "notification/slack") {
    absl::StatusOr<std::string> url = render("url", true);
    if (!url.ok()) return url.status();
    absl::StatusOr<std::string> channel = StringField(with, "channel", false);
    if (!channel.ok()) return channel.status();
    const api::Experiment& e = *env.experiment;
    Json msg = Json::object();
    msg["text"] = StrCat("iter8 experiment ", e.metadata.namespace_, "/", e.metadata.name, " (",
                         engine::ToString(env.type), "): ", e.status.message,
                         "; recommended version: ", e.status.version_recommended_for_promotion);
    if (!channel->empty()) msg["channel"] = *channel;
    return Post("POST", *url, {{"Content-Type", "application/json"}}, msg.dump(), env);
  }
  if (task.task == "common/readiness") {
    absl::StatusOr<std::string> url = render("url", true);
    if (!url.ok()) return url.status();
    absl::StatusOr<int> delay = IntField(with, "initialDelaySeconds", 5);
    absl::StatusOr<int> retries = IntField(with, "numRetries", 12);
    absl::StatusOr<int> interval = IntField(with, "intervalSeconds", 5);
    for (const auto* s : {&delay, &retries, &interval}) {
      if (!s->ok()) return s->status();
    }
    const absl::Time deadline = absl::Now() + env.timeout;
    if (!SleepUnlessCancelled(absl::Seconds(*delay), env)) {
      return absl::CancelledError("readiness: iter8 is stopping");
    }
    absl::Status last;
    for (int i = 0; i <= *retries && absl::Now() < deadline; ++i) {
      last = Post("GET", *url, {}, "", env);
      if (last.ok()) return last;
      if (!SleepUnlessCancelled(absl::Seconds(*interval), env)) {
        return absl::CancelledError("readiness: iter8 is stopping");
      }
    }
    return absl::DeadlineExceededError(StrCat(*url, " not ready: ", last.message()));
  }
  if (task.task == "local/promote") return Promote(env);
  if (task.task == "metrics/collect") return CollectMetrics(with, env);
  return absl::InvalidArgumentError(StrCat("unknown task '", task.task, "'"));
}

}  // namespace

std::map<std::string, std::string> TemplateValues(const api::Experiment& e,
                                                  engine::HandlerType type) {
  std::map<std::string, std::string> values;
  if (!e.spec.version_info) return values;
  const api::VersionDetail* chosen = &e.spec.version_info->baseline;
  if (type != engine::HandlerType::kRollback && type != engine::HandlerType::kFailure) {
    for (const api::VersionDetail* v : api::AllVersions(e.spec)) {
      if (v->name == e.status.version_recommended_for_promotion) chosen = v;
    }
  }
  values["name"] = chosen->name;
  for (const auto& nv : chosen->variables) values[nv.name] = nv.value;
  return values;
}

absl::StatusOr<std::string> RenderTemplate(const std::string& text,
                                           const std::map<std::string, std::string>& values) {
  std::string out;
  size_t pos = 0;
  while (true) {
    const size_t open = text.find("{{", pos);
    if (open == std::string::npos) {
      out.append(text, pos, std::string::npos);
      return out;
    }
    const size_t close = text.find("}}", open + 2);
    if (close == std::string::npos) {
      return absl::InvalidArgumentError(StrCat("unterminated '{{' at offset ", open));
    }
    std::string inner = text.substr(open + 2, close - open - 2);
    const size_t b = inner.find_first_not_of(' ');
    const size_t e = inner.find_last_not_of(' ');
    inner = b == std::string::npos ? "" : inner.substr(b, e - b + 1);
    if (inner.size() < 2 || inner[0] != '.') {
      return absl::InvalidArgumentError(StrCat("unsupported template '{{", inner, "}}'"));
    }
    auto it = values.find(inner.substr(1));
    if (it == values.end()) {
      return absl::InvalidArgumentError(StrCat("no value for '{{ ", inner, " }}'"));
    }
    out.append(text, pos, open - pos);
    out += it->second;
    pos = close + 2;
  }
}

absl::Status RunAction(const std::vector<api::TaskSpec>& tasks, const TaskEnv& env) {
  for (size_t i = 0; i < tasks.size(); ++i) {
    if (Cancelled(env)) return absl::CancelledError("iter8 is stopping");
    env.log(StrCat("task ", i, " ", tasks[i].task, ": running"));
    TaskEnv each = env;
    each.task_index = i;
    absl::Status s = RunOne(tasks[i], each);
    if (!s.ok()) {
      return absl::Status(s.code(), StrCat("task ", i, " (", tasks[i].task, "): ", s.message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace iter8::tasks
