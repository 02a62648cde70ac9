// The commands that talk to entrenard over its unix socket: submit, logs, ls, show, cancel,
// resume, queue, devices.
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <thread>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "entrenar/base/files.h"
#include "entrenar/base/status.h"
#include "entrenar/base/strings.h"
#include "entrenar/cli/cli.h"
#include "entrenar/client/jobs_client.h"
#include "entrenar/console/live_view.h"
#include "entrenar/manifest/limits.h"
#include "entrenar/manifest/load.h"
#include "entrenar/manifest/lock.h"
#include "entrenar/run/layout.h"
#include "entrenar/run/owner_files.h"
#include "entrenar/v1/jobs.pb.h"

#include "commands.h"

extern char** environ;

namespace entrenar::cli {
namespace {

namespace fs = std::filesystem;
using console::LiveView;
using nlohmann::json;

using client::JobsClient;

// Prints a failed call and returns the exit code for it.
int Failed(const Status& s) {
  switch (s.code()) {
    case StatusCode::kUnavailable:
      std::cerr << "error: " << s.message() << "\n";
      return kExitUnavailable;
    case StatusCode::kInvalidArgument:
      std::cerr << s.message() << "\n";
      return kExitInvalid;
    case StatusCode::kUnimplemented:  // valid, but not supported yet
      std::cerr << s.message() << "\n";
      return kExitUnsupported;
    default:  // refused: unauthenticated, not yours, not found, ...
      std::cerr << "error: " << s.message() << "\n";
      return kExitRefused;
  }
}

std::string StateName(v1::JobState s) { return v1::JobState_Name(s); }

// The state as `ls` shows it: a running job that is fetching its sources is DOWNLOADING.
std::string ShownState(const v1::Job& j) {
  if (j.state() == v1::RUNNING && j.activity() == "downloading") return "DOWNLOADING";
  return StateName(j.state());
}

bool Terminal(v1::JobState s) {
  return s == v1::SUCCEEDED || s == v1::FAILED || s == v1::CANCELLED || s == v1::HALTED;
}

// A field of an event's payload, or `fallback` when it is missing or has another type: a payload
// holds what a worker wrote, so its types are never taken on trust.
template <typename T>
T Field(const json& j, const char* key, T fallback) {
  if (!j.is_object()) return fallback;
  const auto it = j.find(key);
  if (it == j.end()) return fallback;
  if constexpr (std::is_same_v<T, std::string>) {
    return it->is_string() ? it->template get<std::string>() : fallback;
  } else if constexpr (std::is_floating_point_v<T>) {
    return it->is_number() ? it->template get<T>() : fallback;
  } else {
    return it->is_number_integer() ? it->template get<T>() : fallback;
  }
}

json JobJson(const v1::Job& j) {
  return {{"id", j.id()},
          {"name", j.name()},
          {"user", j.user()},
          {"uid", j.uid()},
          {"state", StateName(j.state())},
          {"activity", j.activity()},
          {"reason", j.reason()},
          {"priority", j.priority()},
          {"devices", j.devices()},
          {"run_dir", j.run_dir()},
          {"created_at", j.created_at()},
          {"updated_at", j.updated_at()},
          {"attempts", j.attempts()},
          {"device_kind", j.device_kind()},
          {"assigned", j.assigned()},
          {"pinned", j.pinned()},
          {"strict", j.strict()},
          {"gpu_memory_bytes", j.gpu_memory_bytes()}};
}

// One event as a line for people.
std::string EventLine(const v1::Event& e) {
  const json p = json::parse(e.payload_json(), nullptr, false);
  if (!p.is_object()) return e.payload_json();
  if (e.kind() == "state" && p.contains("state")) {
    const std::string reason = Field(p, "reason", std::string());
    return "state: " + Field(p, "state", std::string()) +
           (reason.empty() ? "" : " (" + reason + ")");
  }
  if (e.kind() == "metric" && p.contains("values")) {
    const json& v = p["values"];
    char buf[200];
    std::snprintf(buf, sizeof(buf), "step %lld  epoch %lld  loss %.4f  lr %.3g",
                  static_cast<long long>(e.step()),
                  static_cast<long long>(Field(p, "epoch", std::int64_t{0})),
                  Field(v, "train_loss", 0.0), Field(v, "learning_rate", 0.0));
    return buf;
  }
  if (e.kind() == "validation" && p.contains("values")) {
    std::string line = (Field(p, "text", std::string()) == "test" ? "test" : "validation") +
                       std::string(" at step ") + std::to_string(e.step()) + ":";
    for (const auto& [k, v] : p["values"].items()) {
      if (v.is_number()) line += " " + k + "=" + std::to_string(v.get<double>());
    }
    return line;
  }
  if (p.contains("text"))
    return (e.kind() == "log" ? "" : e.kind() + ": ") + Field(p, "text", std::string());
  return e.payload_json();
}

// How an event stands out on a terminal: alerts and failures in red, warnings in yellow.
LiveView::Tone ToneOf(const v1::Event& e) {
  if (e.kind() == "alert") return LiveView::Tone::kAlert;
  const std::string& p = e.payload_json();
  if (e.kind() == "state" && p.find("\"FAILED\"") != std::string::npos) {
    return LiveView::Tone::kAlert;
  }
  const json j = json::parse(p, nullptr, false);
  const std::string text = j.is_object() ? Field(j, "text", std::string()) : "";
  if (text.rfind("warning", 0) == 0 || text.find(" warning:") != std::string::npos) {
    return LiveView::Tone::kWarning;
  }
  return LiveView::Tone::kPlain;
}

// Prints one event: JSON, a line, or (on a terminal) the live view.
// Whether a step's line is one of about twenty over the run: every n-th step and the last, or
// under a time budget the first step past each twentieth of it (`shown`: the last one printed).
bool Milestone(const json& v, std::int64_t step, std::int64_t* shown) {
  const auto total = static_cast<std::int64_t>(Field(v, "total_steps", 0.0));
  if (total > 0) return step % std::max<std::int64_t>(1, total / 20) == 0 || step == total;
  const double budget = Field(v, "time_budget_seconds", 0.0);
  if (budget <= 0) return true;
  const auto part = static_cast<std::int64_t>(20 * Field(v, "elapsed_seconds", 0.0) / budget);
  if (part <= *shown) return false;
  *shown = part;
  return true;
}

// An event's numeric values, for the live view's metrics and sparklines.
std::map<std::string, double> NumericValues(const json& payload) {
  std::map<std::string, double> out;
  if (!payload.is_object() || !payload.contains("values") || !payload["values"].is_object())
    return out;
  for (const auto& [k, v] : payload["values"].items()) {
    if (v.is_number()) out[k] = v.get<double>();
  }
  return out;
}

void PrintEvent(const v1::Event& e, bool as_json, bool tty, LiveView& view, std::int64_t* shown) {
  if (as_json) {
    std::cout << json{{"seq", e.seq()},
                      {"kind", e.kind()},
                      {"step", e.step()},
                      {"time", e.time()},
                      {"payload", json::parse(e.payload_json(), nullptr, false)}}
                     .dump()
              << "\n";
  } else if (e.kind() == "metric") {
    const json p = json::parse(e.payload_json(), nullptr, false);
    const json v = p.is_object() && p.contains("values") ? p["values"] : json::object();
    const auto total = static_cast<std::int64_t>(Field(v, "total_steps", 0.0));
    if (tty) {
      view.TimeBudget(Field(v, "elapsed_seconds", 0.0), Field(v, "time_budget_seconds", 0.0));
      view.Values(NumericValues(p));
      view.Step(e.step(), total, Field(p, "epoch", std::int64_t{0}), Field(v, "train_loss", 0.0),
                e.time());
    } else if (Milestone(v, e.step(), shown)) {
      std::cout << EventLine(e) << "\n";
    }
  } else if (tty) {
    if (e.kind() == "validation")
      view.Values(NumericValues(json::parse(e.payload_json(), nullptr, false)));
    view.Line(EventLine(e), ToneOf(e));
  } else {
    std::cout << EventLine(e) << "\n";
  }
  std::cout.flush();
}

// What the job's status line shows: monitoring.terminal of the manifest it runs (its run
// directory's job.yaml, once it started and when this user can read it). False until the file
// is there; true once it was tried (a manifest that does not load keeps the default line). The
// file is the job owner's: read as run files are (a regular file, never blocking, bounded).
bool LoadJobLayout(const std::string& run_dir, LiveView& view) {
  if (run_dir.empty()) return true;
  const std::string file = run::Layout(run_dir).Job();
  const Result<std::string> text = run::ReadAsOwner({getuid(), getgid()}, file, 0, 1 << 20);
  if (!text.ok()) return text.status().code() != StatusCode::kNotFound;
  manifest::LoadOptions options;
  const manifest::LoadResult r = manifest::LoadText(*text, file, options);
  if (r.ok()) view.SetLayout(console::LayoutOf(r.manifest->monitoring.terminal));
  return true;
}

// The live view of `logs -f` on this terminal (colour unless NO_COLOR or TERM=dumb).
LiveView MakeView() {
  const char* term = std::getenv("TERM");
  winsize size{};
  const int columns = ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 ? size.ws_col : 0;
  return LiveView(std::cout,
                  std::getenv("NO_COLOR") == nullptr && !(term && std::string(term) == "dumb"),
                  columns);
}

// Streams a job's events to stdout; with `final_state`, also the job's state at the end. A
// follower whose daemon goes away (a restart) reconnects for up to two minutes and goes on
// after the last event it printed: nothing is missed or printed twice.
int Follow(const JobsClient& c, std::int64_t job, std::int64_t since, bool follow, bool as_json,
           v1::JobState* final_state) {
  const bool tty = isatty(STDOUT_FILENO) != 0 && !as_json;
  LiveView view = MakeView();
  std::int64_t last = since;
  std::int64_t shown = -1;  // the last twentieth of a time budget printed
  bool reached = false;     // the daemon answered at least once
  std::string run_dir;      // where the job's manifest will be, for the status line's layout
  if (tty) {
    if (const Result<v1::Job> j = c.GetJob(job); j.ok()) run_dir = j->run_dir();
  }
  bool laid_out = !tty;
  auto retry_until = std::chrono::steady_clock::time_point{};
  while (true) {
    const Status s = c.StreamEvents(job, last, follow, [&](const v1::Event& e) {
      reached = true;
      retry_until = {};
      if (!laid_out && e.kind() == "metric") laid_out = LoadJobLayout(run_dir, view);
      PrintEvent(e, as_json, tty, view, &shown);
      last = e.seq();
    });
    if (s.ok()) break;
    const auto now = std::chrono::steady_clock::now();
    if (!follow || !reached || s.code() != StatusCode::kUnavailable ||
        (retry_until != std::chrono::steady_clock::time_point{} && now > retry_until)) {
      view.Finish();
      return Failed(s);
    }
    if (retry_until == std::chrono::steady_clock::time_point{}) {
      retry_until = now + std::chrono::minutes(2);
      const std::string note =
          "entrenard went away; reconnecting (after event " + std::to_string(last) + ")";
      if (tty) {
        view.Line(note, LiveView::Tone::kWarning);
      } else {
        std::cerr << note << "\n";
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  view.Finish();
  if (!final_state) return kExitOk;
  const Result<v1::Job> j = c.GetJob(job);
  if (!j.ok()) return Failed(j.status());
  *final_state = j->state();
  return kExitOk;
}

// The warnings and notes of an accepted manifest (an override replacing a key), as `validate`
// prints them.
void PrintNotes(const google::protobuf::RepeatedPtrField<v1::Diagnostic>& diags) {
  for (const v1::Diagnostic& d : diags) {
    std::cerr << SanitizeUtf8(d.file()) << ":" << d.line() << ":" << d.column() << ": "
              << SanitizeUtf8(d.severity()) << ": "
              << (d.path().empty() ? "" : SanitizeUtf8(d.path()) + ": ")
              << SanitizeUtf8(d.message()) << "\n";
    for (const std::string& h : d.hints()) std::cerr << "  hint: " << SanitizeUtf8(h) << "\n";
  }
}

struct Common {
  std::string socket;
  bool json = false;
};

void AddSocket(CLI::App* cmd, Common& c) {
  cmd->add_option("--socket", c.socket, "entrenard's socket (default: $ENTRENAR_SOCKET)");
  cmd->add_flag("--json", c.json, "Machine-readable output");
}

struct SubmitArgs : Common {
  std::string file;
  std::vector<std::string> overrides;
  int priority = 0;
  std::string devices;  // a count ("2") or device names ("cuda:0,cuda:2")
  std::string name;
  bool follow = false;
  bool strict = false;
  std::string gpu_memory;  // "24GiB": free memory the job needs on each GPU
};

// "24GiB", "24000MiB", "1.5TiB", "80GB", "512" (bytes) -> bytes; nullopt for anything else.
std::optional<std::int64_t> ParseSize(const std::string& text) {
  std::size_t end = 0;
  double number = 0;
  try {
    number = std::stod(text, &end);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  std::string unit = text.substr(end);
  for (char& ch : unit) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  static const std::map<std::string, double> kUnits = {{"", 1.0},
                                                       {"b", 1.0},
                                                       {"k", 1024.0},
                                                       {"kib", 1024.0},
                                                       {"m", 1048576.0},
                                                       {"mib", 1048576.0},
                                                       {"g", 1073741824.0},
                                                       {"gib", 1073741824.0},
                                                       {"t", 1099511627776.0},
                                                       {"tib", 1099511627776.0},
                                                       {"kb", 1e3},
                                                       {"mb", 1e6},
                                                       {"gb", 1e9},
                                                       {"tb", 1e12}};
  const auto it = kUnits.find(unit);
  const double bytes = it == kUnits.end() ? -1 : number * it->second;
  if (!(bytes > 0) || bytes > 1e18) return std::nullopt;
  return static_cast<std::int64_t>(bytes);
}

// The request for `a`: the manifest's text, its overrides, this environment (for `${VAR}`),
// its folder (relative paths), the priority, the devices and the name.
v1::SubmitRequest MakeSubmitRequest(const SubmitArgs& a, const std::string& yaml) {
  v1::SubmitRequest req;
  v1::ManifestSource* src = req.mutable_manifest();
  src->set_yaml(yaml);
  src->set_file_name(a.file);
  for (const std::string& o : a.overrides) src->add_overrides(o);
  for (char** e = environ; *e; ++e) {
    const std::string kv = *e;
    const std::size_t eq = kv.find('=');
    // A variable that is not UTF-8 could not travel; a manifest naming it finds it unset.
    if (eq != std::string::npos && IsValidUtf8(kv)) {
      (*src->mutable_env())[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
  }
  // Relative paths in the manifest are relative to its folder, as for `entrenar train`.
  src->set_working_dir(fs::absolute(fs::path(a.file)).parent_path().lexically_normal().string());
  req.set_priority(a.priority);
  if (!a.devices.empty() && a.devices.find_first_not_of("0123456789") == std::string::npos) {
    req.set_devices(std::stoi(a.devices.substr(0, 6)));
  } else if (!a.devices.empty()) {
    std::istringstream names(a.devices);
    for (std::string n; std::getline(names, n, ',');) req.add_device_names(std::string(Trim(n)));
  }
  req.set_name(a.name);
  req.set_strict(a.strict);
  if (!a.gpu_memory.empty()) req.set_gpu_memory_bytes(ParseSize(a.gpu_memory).value_or(0));
  return req;
}

// What is better said here, before the request: text that is not UTF-8 (gRPC carries text as
// UTF-8; the daemon could only drop the request), with its line and column; with --strict, a
// locked file that changed (read as this user, now; each attempt checks again as it starts).
bool CheckBeforeSubmit(const SubmitArgs& a, const std::string& text) {
  const bool utf8 =
      IsValidUtf8(text) && std::all_of(a.overrides.begin(), a.overrides.end(),
                                       [](const std::string& o) { return IsValidUtf8(o); });
  if (utf8 && !a.strict) return true;
  manifest::LoadOptions options;
  options.overrides = a.overrides;
  const manifest::LoadResult r = manifest::LoadText(text, a.file, options);
  std::vector<manifest::Diagnostic> diags = r.diagnostics;
  if (utf8 && r.ok()) diags = manifest::VerifyLock(*r.manifest, BaseDir(a.file));
  for (const manifest::Diagnostic& d : diags) {
    std::cerr << SanitizeUtf8(manifest::FormatDiagnostic(d)) << "\n";
  }
  return utf8 && !manifest::HasErrors(diags);
}

int RunSubmit(const SubmitArgs& a) {
  const Result<std::string> text = ReadWholeFile(a.file, {manifest::Limits::kMaxBytes, true});
  if (!text.ok()) {
    std::cerr << "error: cannot read the manifest: " << text.status().message() << "\n";
    // Too large, or a device: no manifest, as validate says (exit 1); unreadable: exit 4.
    return text.status().code() == StatusCode::kInvalidArgument ? kExitInvalid : kExitIo;
  }
  if (!CheckBeforeSubmit(a, *text)) return kExitInvalid;
  if (!a.gpu_memory.empty() && !ParseSize(a.gpu_memory)) {
    std::cerr << "error: --gpu-memory: expected a size such as 24GiB or 24000MiB, got `"
              << a.gpu_memory << "`\n";
    return kExitUsage;
  }
  const v1::SubmitRequest req = MakeSubmitRequest(a, *text);
  const JobsClient c = JobsClient::Connect(a.socket);
  const Result<v1::SubmitResponse> submitted = c.Submit(req);
  if (!submitted.ok()) return Failed(submitted.status());
  const v1::SubmitResponse& resp = *submitted;
  PrintNotes(resp.diagnostics());
  if (a.json) {
    std::cout << json{{"job_id", resp.job_id()}, {"run_dir", resp.run_dir()}}.dump() << "\n";
  } else {
    std::cerr << "job " << resp.job_id() << " submitted; run directory " << resp.run_dir() << "\n";
    if (!a.follow) std::cout << resp.job_id() << "\n";
  }
  if (!a.follow) return kExitOk;
  v1::JobState state = v1::JOB_STATE_UNSPECIFIED;
  const int rc = Follow(c, resp.job_id(), 0, true, a.json, &state);
  if (rc != kExitOk) return rc;
  return state == v1::SUCCEEDED ? kExitOk : kExitJobFailed;
}

struct JobArgs : Common {
  std::int64_t job = 0;
  bool follow = false;
  std::int64_t since = 0;
  bool force = false;
  std::string state;
  bool mine = false;
  std::string from;                // resume: a checkpoint name (step-N)
  std::string user;                // ls: only this user's jobs (name or uid)
  std::vector<std::string> names;  // metrics: only these series
};

int RunLogs(const JobArgs& a) {
  const JobsClient c = JobsClient::Connect(a.socket);
  v1::JobState state = v1::JOB_STATE_UNSPECIFIED;
  return Follow(c, a.job, a.since, a.follow, a.json, a.follow ? &state : nullptr);
}

std::string Gib(std::int64_t bytes);  // "16.0 GiB"

// "queue:     position 1 of the GPU queue: needs ...; expected to start in about 4 min (...)".
void PrintQueuePlace(const JobsClient& c, std::int64_t job) {
  const Result<v1::ClusterStatusResponse> status = c.ClusterStatus();
  if (!status.ok()) return;
  for (const v1::Waiting& w : status->waiting()) {
    if (w.job_id() != job) continue;
    std::cout << "queue:     position " << w.position() << " of the "
              << (w.kind() == "gpu" ? "GPU" : "CPU") << " queue: " << w.reason() << "\n";
  }
}

int RunShow(const JobArgs& a) {
  const Result<v1::Job> got = JobsClient::Connect(a.socket).GetJob(a.job);
  if (!got.ok()) return Failed(got.status());
  const v1::Job& j = *got;
  if (a.json) {
    std::cout << JobJson(j).dump(2) << "\n";
    return kExitOk;
  }
  std::cout << "job:       " << j.id() << " (" << j.name() << ")\n"
            << "state:     " << StateName(j.state())
            << (j.reason().empty() ? "" : " (" + j.reason() + ")")
            << (j.activity() == "downloading" ? ", downloading its sources" : "") << "\n"
            << "owner:     " << j.user() << " (uid " << j.uid() << ")\n"
            << "priority:  " << j.priority() << "\n"
            << "devices:   " << j.devices() << " "
            << (j.device_kind() == "gpu" ? "GPU" : "CPU slot") << (j.devices() == 1 ? "" : "s")
            << (j.pinned().empty() ? "" : " (" + j.pinned() + ")")
            << (j.assigned().empty() ? "" : ", running on " + j.assigned())
            << (j.gpu_memory_bytes() > 0 ? ", each with " + Gib(j.gpu_memory_bytes()) + " free"
                                         : "")
            << "\n"
            << "run dir:   " << j.run_dir() << "\n"
            << "attempts:  " << j.attempts() << "\n"
            << "submitted: " << j.created_at() << ", updated " << j.updated_at() << "\n";
  if (j.state() == v1::QUEUED) PrintQueuePlace(JobsClient::Connect(a.socket), j.id());
  return kExitOk;
}

// Every series of a job's metrics: name, points, last step and value; --json gives them all.
int RunMetrics(const JobArgs& a) {
  v1::GetMetricsRequest req;
  req.set_job_id(a.job);
  for (const std::string& n : a.names) req.add_names(n);
  const Result<v1::GetMetricsResponse> got = JobsClient::Connect(a.socket).GetMetrics(req);
  if (!got.ok()) return Failed(got.status());
  const v1::GetMetricsResponse& resp = *got;
  if (a.json) {
    json out = json::object();
    for (const v1::Series& series : resp.series()) {
      out[series.name()] = {{"steps", series.steps()}, {"values", series.values()}};
    }
    std::cout << out.dump() << "\n";
    return kExitOk;
  }
  std::cout << "SERIES                    POINTS  LAST STEP  LAST VALUE\n";
  for (const v1::Series& series : resp.series()) {
    std::ostringstream line;
    line << std::left << std::setw(26) << series.name() << std::setw(8) << series.values_size();
    if (series.values_size() > 0) {
      line << std::setw(11) << series.steps(series.steps_size() - 1)
           << series.values(series.values_size() - 1);
    }
    std::cout << line.str() << "\n";
  }
  return kExitOk;
}

int RunCheckpoints(const JobArgs& a) {
  const Result<std::vector<v1::Checkpoint>> got =
      JobsClient::Connect(a.socket).ListCheckpoints(a.job);
  if (!got.ok()) return Failed(got.status());
  json out = json::array();
  for (const v1::Checkpoint& cp : *got) {
    out.push_back({{"step", cp.step()}, {"path", cp.path()}});
    if (!a.json) std::cout << "step-" << cp.step() << "  " << cp.path() << "\n";
  }
  if (a.json) std::cout << out.dump(2) << "\n";
  return kExitOk;
}

int RunList(const JobArgs& a) {
  v1::ListJobsRequest req;
  if (!a.state.empty()) {
    v1::JobState st;
    std::string upper = a.state;
    std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
    if (!v1::JobState_Parse(upper, &st)) {
      std::cerr << "error: --state: unknown state " << a.state << "\n";
      return kExitUsage;
    }
    req.set_state(st);
  }
  req.set_mine(a.mine);
  req.set_user(a.user);
  req.set_page_size(1000);
  const Result<std::vector<v1::Job>> listed = JobsClient::Connect(a.socket).ListJobs(req);
  if (!listed.ok()) return Failed(listed.status());
  const std::vector<v1::Job>& jobs = *listed;
  if (a.json) {
    json out = json::array();
    for (const auto& j : jobs) out.push_back(JobJson(j));
    std::cout << out.dump(2) << "\n";
    return kExitOk;
  }
  std::cout << "ID      NAME                     USER        STATE        PRIORITY  SUBMITTED\n";
  for (const v1::Job& j : jobs) {
    std::ostringstream line;
    line << std::left << std::setw(8) << j.id() << std::setw(25) << j.name().substr(0, 24)
         << std::setw(12) << j.user().substr(0, 11) << std::setw(13) << ShownState(j)
         << std::setw(10) << j.priority() << j.created_at();
    std::cout << line.str() << "\n";
  }
  return kExitOk;
}

int RunCancel(const JobArgs& a) {
  const Result<v1::Job> job = JobsClient::Connect(a.socket).CancelJob(a.job, a.force);
  if (!job.ok()) return Failed(job.status());
  std::cout << "job " << a.job << ": " << StateName(job->state())
            << (Terminal(job->state()) ? "" : " (stopping after a checkpoint)") << "\n";
  return kExitOk;
}

int RunResume(const JobArgs& a) {
  const JobsClient c = JobsClient::Connect(a.socket);
  const Result<v1::Job> job = c.ResumeJob(a.job, a.from);
  if (!job.ok()) return Failed(job.status());
  std::cout << "job " << a.job << ": " << StateName(job->state()) << "\n";
  if (!a.follow) return kExitOk;
  v1::JobState state = v1::JOB_STATE_UNSPECIFIED;
  // Only the new events: those after the ones stored before the resume.
  const int rc = Follow(c, a.job, a.since, true, a.json, &state);
  if (rc != kExitOk) return rc;
  return state == v1::SUCCEEDED ? kExitOk : kExitJobFailed;
}

std::string Gib(std::int64_t bytes) {
  std::ostringstream out;
  out.precision(1);
  out << std::fixed << static_cast<double>(bytes) / (1 << 30) << " GiB";
  return out.str();
}

int RunDevices(const Common& a) {
  const Result<v1::ClusterStatusResponse> resp = JobsClient::Connect(a.socket).ClusterStatus();
  if (!resp.ok()) return Failed(resp.status());
  if (a.json) {
    json devices = json::array();
    for (const auto& d : resp->devices()) {
      devices.push_back({{"name", d.name()},
                         {"kind", d.kind()},
                         {"model", d.model()},
                         {"memory_bytes", d.memory_bytes()},
                         {"job_id", d.job_id()}});
    }
    std::cout << json{{"version", resp->version()},
                      {"devices", devices},
                      {"note", resp->devices_note()},
                      {"queued", resp->queued()},
                      {"running", resp->running()}}
                     .dump(2)
              << "\n";
    return kExitOk;
  }
  std::cout << "entrenard " << resp->version() << ": " << resp->running() << " running, "
            << resp->queued() << " queued (" << resp->devices_note() << ")\n";
  for (const auto& d : resp->devices()) {
    std::cout << "  " << d.name() << "  "
              << (d.job_id() ? "job " + std::to_string(d.job_id()) : std::string("free"));
    if (!d.model().empty()) std::cout << "  " << d.model() << ", " << Gib(d.memory_bytes());
    std::cout << "\n";
  }
  return kExitOk;
}

// Every queued job in the order it will start on its kind of device, and why it waits.
int RunQueue(const JobArgs& a) {
  const JobsClient c = JobsClient::Connect(a.socket);
  const Result<v1::ClusterStatusResponse> resp = c.ClusterStatus();
  if (!resp.ok()) return Failed(resp.status());
  v1::ListJobsRequest req;
  req.set_state(v1::QUEUED);
  req.set_page_size(1000);
  const Result<std::vector<v1::Job>> queued = c.ListJobs(req);
  if (!queued.ok()) return Failed(queued.status());
  std::map<std::int64_t, v1::Job> jobs;
  for (const v1::Job& j : *queued) jobs[j.id()] = j;
  json out = json::array();
  for (const v1::Waiting& w : resp->waiting()) {
    const v1::Job& j = jobs[w.job_id()];
    out.push_back({{"position", w.position()},
                   {"kind", w.kind()},
                   {"job_id", w.job_id()},
                   {"name", j.name()},
                   {"user", j.user()},
                   {"priority", j.priority()},
                   {"devices", j.devices()},
                   {"reason", w.reason()}});
    if (w.has_starts_in_seconds()) out.back()["starts_in_seconds"] = w.starts_in_seconds();
  }
  if (a.json) {
    std::cout << out.dump(2) << "\n";
    return kExitOk;
  }
  std::cout << "POS  KIND  JOB     NAME                     USER        PRIORITY  WHY\n";
  for (const json& w : out) {
    std::ostringstream line;
    line << std::left << std::setw(5) << w["position"].get<std::int64_t>() << std::setw(6)
         << w["kind"].get<std::string>() << std::setw(8) << w["job_id"].get<std::int64_t>()
         << std::setw(25) << w["name"].get<std::string>().substr(0, 24) << std::setw(12)
         << w["user"].get<std::string>().substr(0, 11) << std::setw(10)
         << w["priority"].get<std::int64_t>() << w["reason"].get<std::string>();
    std::cout << line.str() << "\n";
  }
  return kExitOk;
}

}  // namespace

void AddDaemonCommands(CLI::App& app, int* exit_code) {
  auto submit = std::make_shared<SubmitArgs>();
  CLI::App* cmd = app.add_subcommand("submit", "Queue a manifest on entrenard");
  cmd->add_option("FILE", submit->file, "The manifest")->required();
  cmd->add_option("--set", submit->overrides, "Override a key: PATH=VALUE (repeatable)");
  cmd->add_option("--priority", submit->priority, "Higher runs first (default 0)");
  cmd->add_option("--devices", submit->devices,
                  "How many devices the job needs (default 1), or which: cuda:0,cuda:2");
  cmd->add_option("--name", submit->name, "Job name (default: the manifest's name)");
  cmd->add_option("--gpu-memory", submit->gpu_memory,
                  "Free memory the job needs on each of its GPUs (24GiB, 24000MiB): it waits "
                  "for GPUs that have it");
  cmd->add_flag("--follow,-f", submit->follow,
                "Follow the job to its end; exit 0 only if it succeeds");
  cmd->add_flag("--strict", submit->strict,
                "A lock file (`entrenar lock`): refused now if one of its files changed, and "
                "every attempt checks the hashes again before it trains");
  AddSocket(cmd, *submit);
  cmd->callback([submit, exit_code] { *exit_code = RunSubmit(*submit); });

  auto job_command = [&](const char* name, const char* help) {
    auto args = std::make_shared<JobArgs>();
    CLI::App* c = app.add_subcommand(name, help);
    c->add_option("JOB", args->job, "The job id")->required();
    AddSocket(c, *args);
    return std::make_pair(c, args);
  };
  {
    auto [c, args] = job_command("logs", "Print a job's events; --follow until it ends");
    c->add_flag("--follow,-f", args->follow, "Keep printing until the job ends");
    c->add_option("--since", args->since, "Only events after this sequence number");
    c->callback([args = args, exit_code] { *exit_code = RunLogs(*args); });
  }
  {
    auto [c, args] = job_command("metrics", "A job's metric series (every value with --json)");
    c->add_option("--name", args->names, "Only this series (repeatable)");
    c->callback([args = args, exit_code] { *exit_code = RunMetrics(*args); });
  }
  {
    auto [c, args] = job_command("checkpoints", "A job's checkpoints, oldest first");
    c->callback([args = args, exit_code] { *exit_code = RunCheckpoints(*args); });
  }
  {
    auto [c, args] = job_command("show", "Show one job");
    c->callback([args = args, exit_code] { *exit_code = RunShow(*args); });
  }
  {
    auto [c, args] = job_command("cancel", "Stop a job after a checkpoint (yours, or as admin)");
    c->add_flag("--force", args->force, "Kill it now, without waiting for a checkpoint");
    c->callback([args = args, exit_code] { *exit_code = RunCancel(*args); });
  }
  {
    auto [c, args] = job_command("resume", "Queue a stopped job again from its last checkpoint");
    c->add_flag("--follow,-f", args->follow, "Follow it to its end");
    c->add_option("--from", args->from, "Resume from this checkpoint (step-N) instead of the last");
    c->callback([args = args, exit_code] { *exit_code = RunResume(*args); });
  }
  {
    auto args = std::make_shared<JobArgs>();
    CLI::App* c = app.add_subcommand("ls", "List jobs");
    c->add_option("--state", args->state, "Only jobs in this state (queued, running, ...)");
    c->add_flag("--mine", args->mine, "Only your jobs");
    c->add_option("--user", args->user, "Only this user's jobs (name or uid)");
    AddSocket(c, *args);
    c->callback([args, exit_code] { *exit_code = RunList(*args); });
  }
  {
    auto args = std::make_shared<JobArgs>();
    CLI::App* c = app.add_subcommand("queue", "Waiting jobs in the order they will start");
    AddSocket(c, *args);
    c->callback([args, exit_code] { *exit_code = RunQueue(*args); });
  }
  {
    auto args = std::make_shared<Common>();
    CLI::App* c = app.add_subcommand("devices", "Devices, what runs where, and the queue depth");
    AddSocket(c, *args);
    c->callback([args, exit_code] { *exit_code = RunDevices(*args); });
  }
}

}  // namespace entrenar::cli
