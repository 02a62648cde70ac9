// `entrenar train FILE` (entrenar-train): trains a manifest in the foreground, writing the run
// directory; under entrenard the same command is the worker of a job.
#include "train.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <sstream>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "entrenar/base/files.h"
#include "entrenar/base/strings.h"
#include "entrenar/console/exit_codes.h"
#include "entrenar/console/live_view.h"
#include "entrenar/console/output.h"
#include "entrenar/engine/trainer.h"
#include "entrenar/fetch/localize.h"
#include "entrenar/manifest/limits.h"
#include "entrenar/manifest/load.h"
#include "entrenar/manifest/lock.h"
#include "entrenar/plan/budget.h"
#include "entrenar/plan/support.h"
#include "entrenar/run/layout.h"
#include "entrenar/worker/uplink.h"

#include "outputs.h"
#include "ranks.h"
#include "recorder.h"
#include "tracking.h"

namespace entrenar::worker {
namespace {

namespace fs = std::filesystem;
using namespace console;
using nlohmann::ordered_json;

std::atomic<bool> g_stop{false};
extern "C" void OnInterrupt(int) { g_stop.store(true); }

struct TrainArgs {
  std::string file;
  std::vector<std::string> overrides;
  std::string output;
  std::string resume;
  bool dry_run = false;
  bool evaluate = false;
  bool strict = false;   // refuse a lock file whose files changed (SPEC 15.2)
  std::string events;    // also write the event stream here, as JSON lines (for entrenard)
  std::string base_dir;  // where relative data paths resolve (default: the manifest's folder)
  std::string report;    // stream the events to this WorkerService ("unix:PATH"), as job_id
  std::int64_t job_id = 0;
  std::string devices;  // --devices: "cpu:N" or GPU indices "0,1,2,3" (this machine's)
  int nnodes = 1;       // --nnodes: machines in the run; --node-rank: this one's place
  int node_rank = 0;
  std::string master;  // --master HOST:PORT: node 0's rendezvous
};

std::string Bytes(std::int64_t n) {
  char buf[32];
  if (n >= (1 << 20)) {
    std::snprintf(buf, sizeof(buf), "%.1f MiB", static_cast<double>(n) / (1 << 20));
  } else {
    std::snprintf(buf, sizeof(buf), "%.1f KiB", static_cast<double>(n) / 1024);
  }
  return buf;
}

// --dry-run: the resolved config and what the run would do, without training or writing.
int PrintDryRun(const manifest::Manifest& m, const engine::TrainOptions& options) {
  Result<engine::DryRun> plan = engine::PlanRun(m, options);
  if (!plan.ok()) {
    std::cerr << "error: " << plan.status().message() << "\n";
    return plan.status().code() == StatusCode::kUnimplemented ? kExitUnsupported : kExitInvalid;
  }
  const engine::DryRun& p = *plan;
  std::cout << "# resolved configuration\n" << manifest::ToYaml(m) << "\n# plan\n";
  const bool text = p.features.empty();
  std::cout << "data:         " << p.train_rows << " train / " << p.val_rows << " val / "
            << p.test_rows << (text ? " test sequences\n" : " test rows\n");
  if (text) {
    std::cout << "task:         " << p.task << "\n";
  } else {
    std::cout << "features:     " << p.features.size() << " (" << Join(p.features, ", ") << ")\n";
    std::cout << "target:       " << p.target << " (" << p.task;
    if (!p.classes.empty())
      std::cout << ", " << p.classes.size() << " classes: " << Join(p.classes, ", ");
    std::cout << ")\n";
  }
  for (const std::string& note : p.notes) std::cout << note << "\n";
  std::cout << "parameters:   " << p.trainable_parameters << " trainable, " << p.frozen_parameters
            << " frozen\n";
  std::cout << "steps:        " << p.steps_per_epoch << " per epoch, ";
  if (m.training.duration) {
    std::cout << "as many as " << m.training.duration->text << " allows (a time budget)\n";
  } else {
    std::cout << p.total_steps << " in total (" << p.epochs << " epochs)\n";
  }
  std::cout << "memory:       about " << Bytes(p.estimated_memory_bytes) << "\n";
  std::cout << "device:       " << p.device << ", " << p.threads << " threads\n";
  std::cout << "run dir:      " << options.run_dir << " (not created by --dry-run)\n";
  return kExitOk;
}

std::string DataDir(const TrainArgs& a) {
  return !a.base_dir.empty() ? a.base_dir : a.file == "-" ? "." : BaseDir(a.file);
}

// --strict: the lock section's files as they were locked, or false after printing which
// changed, went missing or appeared (before anything is written).
bool CheckLock(const manifest::Manifest& m, const std::string& base_dir) {
  const std::vector<manifest::Diagnostic> lock = manifest::VerifyLock(m, base_dir);
  PrintDiagnostics(lock);
  if (manifest::HasErrors(lock)) return false;
  std::cerr << "lock: the " << m.lock->files.size()
            << (m.lock->files.size() == 1 ? " locked file matches its hash"
                                          : " locked files match their hashes")
            << "\n";
  return true;
}

// A fresh run records its inputs (run::Layout::Lock); a resumed one checks that they are still
// the files it started with: other data would continue the checkpoint's steps on other rows.
// kExitOk, or kExitInvalid after printing why not.
// `started`: the run directory of the checkpoint resumed from (empty for a fresh run).
int LockInputs(const manifest::Manifest& m, const std::string& base_dir, const std::string& dir,
               const std::string& started_dir) {
  const run::Layout layout(started_dir.empty() ? dir : started_dir);
  const manifest::Manifest as_run = manifest::AsRun(m, base_dir, dir);
  if (started_dir.empty()) {
    Result<std::string> lock = manifest::MakeLock(as_run, base_dir);
    if (!lock.ok()) {
      std::cerr << "error: " << lock.status().message() << "\n";
      return kExitInvalid;
    }
    return WriteOutput(layout.Lock(), *lock) ? kExitOk : kExitIo;
  }
  std::error_code ec;
  if (!fs::exists(layout.Lock(), ec)) return kExitOk;  // a run from before lock.yaml
  manifest::LoadResult started = manifest::LoadFile(layout.Lock());
  if (!started.ok() || !started.manifest->lock) {
    std::cerr << "warning: --resume: " << layout.Lock()
              << " is not a lock file entrenar wrote; the inputs are not checked\n";
    return kExitOk;
  }
  manifest::Manifest check = as_run;
  check.lock = started.manifest->lock;
  std::vector<manifest::Diagnostic> changed = manifest::VerifyLock(check, base_dir);
  if (!manifest::HasErrors(changed)) {
    // Resumed into another directory: the lock of the run it continues goes with it.
    if (fs::equivalent(layout.root, dir, ec)) return kExitOk;
    const Result<std::string> text = ReadWholeFile(layout.Lock(), {1 << 24, false});
    return text.ok() && WriteOutput(run::Layout(dir).Lock(), *text) ? kExitOk : kExitIo;
  }
  std::cerr << "error: --resume: the run's inputs are not the files it started with:\n";
  for (manifest::Diagnostic& d : changed) {
    if (d.path.rfind("lock.", 0) == 0) d.location = started.manifest->LocationOf(d.path);
    d.hints = {
        "the checkpoint's steps were trained on the file as it was: restore it to "
        "resume, or start a new run from the checkpoint's weights (model.source: "
        "CHECKPOINT/model.safetensors)"};
  }
  PrintDiagnostics(changed);
  return kExitInvalid;
}

// The run directory, created with logs/, and the manifest as written and as resolved, its lock,
// and the environment. kExitOk, or the exit code after printing why not.
int PrepareRunDir(const TrainArgs& a, const manifest::Manifest& m, const std::string& dir,
                  bool resuming) {
  std::error_code ec;
  if (!resuming && fs::exists(dir + "/summary.json", ec)) {
    std::cerr << "error: " << dir << " already holds a finished run; choose another --output\n";
    return kExitIo;
  }
  fs::create_directories(dir + "/logs", ec);
  if (ec) {
    std::cerr << "error: cannot create the run directory " << dir << ": " << ec.message() << "\n";
    return kExitIo;
  }
  const std::string started = resuming ? run::Layout::RunOfCheckpoint(a.resume) : "";
  if (const int rc = LockInputs(m, DataDir(a), dir, started); rc != kExitOk) return rc;
  // A resumed run has not ended: an earlier attempt's summary (halted, stopped, or finished on a
  // shorter budget) would tell entrenard so if this attempt dies before writing its own.
  fs::remove(run::Layout(dir).Summary(), ec);
  // The manifest as written; a FIFO (read once already) or a file gone since: as resolved.
  std::string original;
  if (a.file != "-") {
    Result<std::string> text = ReadWholeFile(a.file, {manifest::Limits::kMaxBytes, false});
    if (text.ok()) original = std::move(*text);
  }
  const bool written =
      WriteOutput(dir + "/config.yaml", original.empty() ? manifest::ToYaml(m) : original) &&
      WriteOutput(dir + "/config.resolved.yaml",
                  manifest::ToYaml(manifest::AsRun(m, DataDir(a), dir))) &&
      WriteOutput(dir + "/environment.yaml", EnvironmentYaml());
  return written ? kExitOk : kExitIo;
}

// The final outputs of a trained run and its closing lines. Returns the exit code.
int FinishRun(const manifest::Manifest& m, const std::string& dir, const engine::TrainSummary& s,
              const RunRecorder& recorder) {
  if (!WriteOutput(dir + "/summary.json", SummaryJson(s).dump(2) + "\n")) return kExitIo;
  const monitor::QualityScore quality = Quality(recorder.table(), s);
  if (!WriteOutput(dir + "/quality.yaml", monitor::QualityYaml(quality))) return kExitIo;
  if (m.IsSet("output.report") && m.output.report.enabled &&
      !WriteReport(m, dir, s, recorder.table(), quality)) {
    return kExitIo;
  }
  if (m.output.registry.enabled && !s.halted && !Publish(m, dir, s, quality)) return kExitIo;
  char took[64];
  std::snprintf(took, sizeof(took), "%lld steps in %.2f s", static_cast<long long>(s.steps),
                s.wall_seconds);
  std::cout << "run " << dir << ": " << took;
  for (const auto& [k, v] : s.test) {
    char value[32];
    std::snprintf(value, sizeof(value), "%.4f", v);
    std::cout << ", " << k << " " << value;
  }
  std::cout << "\n";
  char score[64];
  std::snprintf(score, sizeof(score), "%.1f", quality.score);
  std::cout << "quality " << quality.grade << " (" << score << "/100): " << dir
            << "/quality.yaml\n";
  PrintConfusion(s.classes, s.test_confusion);
  if (s.halted) {
    std::cerr << "halted by an alert (" << s.alerts.back().message << "); resume it with --resume "
              << dir << "/checkpoints/step-" << s.steps << "\n";
    return kExitJobFailed;
  }
  return kExitOk;
}

// `bytes` as "12.3 MB" (under a megabyte, "45.6 kB").
std::string Megabytes(std::int64_t bytes) {
  char buf[32];
  if (bytes < 1000000) {
    std::snprintf(buf, sizeof(buf), "%.1f kB", static_cast<double>(bytes) / 1e3);
  } else {
    std::snprintf(buf, sizeof(buf), "%.1f MB", static_cast<double>(bytes) / 1e6);
  }
  return buf;
}

// The run's hf:// and s3:// sources fetched into their caches (the user's own: under entrenard
// this process runs as the job's owner) and its pacha:// ones found in the registry, each
// download's progress a line of the run's log; returns the manifest the engine trains, with
// local paths in their place. The first download is a `downloading` state event (entrenard shows
// the job as downloading until the engine's `running`).
Result<manifest::Manifest> FetchSources(
    const manifest::Manifest& m, engine::EventSink& log,
    const std::function<void(const std::string&, bool)>& status = nullptr) {
  if (!fetch::HasRemoteSources(m)) return m;
  const auto emit = [&log](engine::Event::Kind kind, const std::string& text) {
    engine::Event e;
    e.kind = kind;
    e.text = text;
    log.OnEvent(e);
  };
  const auto line = [&](const std::string& text) { emit(engine::Event::Kind::kLog, text); };
  fetch::LocalizeOptions options;
  options.hub = fetch::HubSettings::FromEnvironment();
  options.s3 = fetch::S3Settings::FromEnvironment();
  bool downloading = false;
  options.note = [&](const std::string& text) {
    if (!downloading) emit(engine::Event::Kind::kState, "downloading");
    downloading = true;
    line(text);
  };
  // A line per file every 2 s and at its end: bytes, rate, time left. Several files may be
  // downloading at once (Localize calls this under its lock).
  std::map<std::string, std::chrono::steady_clock::time_point> started, shown;
  // On a terminal, all the downloads as one status line, redrawn as they go.
  std::map<std::string, fetch::DownloadProgress> files;
  const auto begun = std::chrono::steady_clock::now();
  const auto draw = [&](const fetch::DownloadProgress& p) {
    files[p.file] = p;
    double sum_done = 0, sum_total = 0;  // in double: a server may declare any size
    for (const auto& [name, f] : files) {
      sum_done += static_cast<double>(f.done);
      sum_total += static_cast<double>(f.total > 0 ? f.total : f.done);
    }
    const auto done = static_cast<std::int64_t>(std::min(sum_done, 1e18));
    const auto total = static_cast<std::int64_t>(std::min(sum_total, 1e18));
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - begun).count();
    status(console::DownloadStatus(
               done, total, seconds > 0.2 ? static_cast<double>(done) / seconds : 0, files.size()),
           p.finished);
  };
  options.progress = [&](const fetch::DownloadProgress& p) {
    const auto now = std::chrono::steady_clock::now();
    if (status) draw(p);
    if (!started.count(p.file)) started[p.file] = now;
    if (!p.finished && shown.count(p.file) && now - shown[p.file] < std::chrono::seconds(2)) return;
    shown[p.file] = now;
    const double seconds = std::chrono::duration<double>(now - started[p.file]).count();
    std::string text = p.file + ": " + Megabytes(p.done);
    if (p.total > 0) {
      text += " of " + Megabytes(p.total) + " (" + std::to_string(100 * p.done / p.total) + "%)";
    }
    if (seconds > 0.05 && p.done > 0) {
      const double rate = static_cast<double>(p.done) / seconds;
      text += ", " + Megabytes(static_cast<std::int64_t>(rate)) + "/s";
      if (!p.finished && p.total > p.done) {
        text += ", " +
                std::to_string(
                    static_cast<std::int64_t>(static_cast<double>(p.total - p.done) / rate + 0.5)) +
                " s left";
      }
    }
    if (p.finished) text += ", done";
    line(text);
  };
  Result<fetch::Localized> fetched = fetch::Localize(m, options);
  if (status) status("", true);
  // Downloads over: what follows (reading the data, building the model) is not downloading.
  if (downloading) emit(engine::Event::Kind::kState, "preparing");
  ENTRENAR_ASSIGN_OR_RETURN(fetch::Localized local, std::move(fetched));
  for (const fetch::LocalSource& s : local.sources) {
    line(s.key + ": " + s.uri + (s.commit.empty() ? "" : " is commit " + s.commit) + ", at " +
         s.local);
  }
  return local.manifest;
}

int FetchFailed(const Status& s) {
  std::cerr << "error: " << s.message() << "\n";
  switch (s.code()) {
    case StatusCode::kUnimplemented:
      return kExitUnsupported;
    case StatusCode::kResourceExhausted:
    case StatusCode::kUnavailable:
    case StatusCode::kDataLoss:
      return kExitIo;
    default:
      return kExitInvalid;
  }
}

// A run's log lines on stderr (what --evaluate fetches before it evaluates).
class StderrLog : public engine::EventSink {
 public:
  void OnEvent(const engine::Event& e) override {
    if (e.kind == engine::Event::Kind::kLog) std::cerr << e.text << "\n";
  }
};

// --evaluate: the metrics of the model as the manifest loads it, as one JSON object.
int PrintEvaluation(const manifest::Manifest& m, const TrainArgs& a) {
  engine::TrainOptions options;
  options.base_dir = DataDir(a);
  options.seed = static_cast<std::uint64_t>(*m.seed);
  StderrLog log;
  Result<manifest::Manifest> local = FetchSources(m, log);
  if (!local.ok()) return FetchFailed(local.status());
  Result<std::map<std::string, double>> metrics = engine::EvaluateModel(*local, options);
  if (!metrics.ok()) {
    std::cerr << "error: " << metrics.status().message() << "\n";
    return metrics.status().code() == StatusCode::kUnimplemented ? kExitUnsupported : kExitInvalid;
  }
  std::cout << ordered_json(*metrics).dump(2) << "\n";
  return kExitOk;
}

// Why training failed, on stderr (`who`: "rank N: " for a rank other than 0), as an exit code.
int TrainFailed(const Status& s, const std::string& who) {
  std::cerr << who << "error: " << s.message() << "\n";
  switch (s.code()) {
    case StatusCode::kUnimplemented:
      return kExitUnsupported;
    case StatusCode::kResourceExhausted:  // a full disk
      return kExitIo;
    case StatusCode::kUnavailable:    // a rank was lost
    case StatusCode::kAlreadyExists:  // rank 0's port is taken
      return kExitRankLost;
    default:
      return kExitInvalid;
  }
}

// How the engine trains `m` into `dir` for this command (stopped by SIGINT/SIGTERM).
engine::TrainOptions OptionsOf(const TrainArgs& a, const manifest::Manifest& m,
                               const std::string& dir,
                               const std::optional<engine::RankOptions>& ranks) {
  engine::TrainOptions train;
  train.base_dir = DataDir(a);
  train.run_dir = dir;
  train.seed = static_cast<std::uint64_t>(*m.seed);
  train.stop = &g_stop;
  train.resume_from = a.resume;
  train.ranks = ranks;
  return train;
}

// Drops a run's events: a rank other than 0 trains as rank 0 does, and rank 0 records the run.
class DropEvents : public engine::EventSink {
 public:
  void OnEvent(const engine::Event&) override {}
};

// A rank other than 0: trains in step with the others and writes nothing (rank 0 writes the
// run directory); its errors go to stderr.
int TrainRank(const TrainArgs& a, const manifest::Manifest& m, const std::string& dir,
              const engine::RankOptions& ranks) {
  std::signal(SIGINT, OnInterrupt);
  std::signal(SIGTERM, OnInterrupt);
  std::signal(SIGPIPE, SIG_IGN);  // a peer gone is Gloo's error to report, not a kill
  const std::string who = "rank " + std::to_string(ranks.rank) + ": ";
  DropEvents drop;
  Result<manifest::Manifest> local = FetchSources(m, drop);
  if (!local.ok()) return FetchFailed(local.status());
  engine::TrainOptions train = OptionsOf(a, m, dir, ranks);
  train.allow_custom_callbacks = false;  // rank 0 runs the callbacks
  Result<engine::TrainSummary> summary = engine::Train(*local, train, drop);
  return summary.ok() ? kExitOk : TrainFailed(summary.status(), who);
}

// Trains `m` into `dir`, recording it (and, under entrenard, streaming its events).
int TrainInto(const TrainArgs& a, const manifest::Manifest& m, const std::string& dir,
              std::optional<std::int64_t> resume_step,
              const std::optional<engine::RankOptions>& ranks) {
  std::signal(SIGINT, OnInterrupt);
  std::signal(SIGTERM, OnInterrupt);
  // Under entrenard: stream the event file to the daemon as it grows (the secret comes in the
  // environment, not on the command line where `ps` shows it).
  std::unique_ptr<Uplink> uplink;
  const char* token = std::getenv("ENTRENAR_WORKER_TOKEN");
  if (!a.report.empty() && !a.events.empty() && token) {
    uplink = std::make_unique<Uplink>(a.report, a.job_id, token, a.events);
  }
  RunRecorder::Options record;
  record.dir = dir;
  record.tty = isatty(STDERR_FILENO) != 0 && m.monitoring.terminal.enabled;
  record.refresh_ms = m.monitoring.terminal.refresh_rate;
  record.layout = console::LayoutOf(m.monitoring.terminal);
  record.resume_step = resume_step;
  record.events_path = a.events;
  record.uplink = uplink.get();
  RunRecorder recorder(record);
  if (!OpenTracking(m, dir, &recorder)) return kExitIo;
  engine::TrainOptions train = OptionsOf(a, m, dir, ranks);
  const char* custom = std::getenv("ENTRENAR_CUSTOM_CALLBACKS");
  train.allow_custom_callbacks = !(custom && std::string(custom) == "off");
  std::function<void(const std::string&, bool)> status;  // the downloads' line, on a terminal
  if (recorder.tty()) {
    status = [&recorder](const std::string& s, bool now) { recorder.Transient(s, now); };
  }
  Result<manifest::Manifest> local = FetchSources(m, recorder, status);
  if (!local.ok()) {
    recorder.Finish(m.output.metrics);
    recorder.FinishTracking("FAILED");
    if (uplink) uplink->Stop(std::chrono::seconds(2));
    return FetchFailed(local.status());
  }
  Result<engine::TrainSummary> summary = engine::Train(*local, train, recorder);
  const bool recorded = recorder.Finish(m.output.metrics);
  recorder.FinishTracking(!summary.ok() || summary->halted ? "FAILED"
                          : summary->stopped               ? "KILLED"
                                                           : "FINISHED");
  if (uplink) uplink->Stop(std::chrono::seconds(2));  // the rest stays in the file
  if (!summary.ok()) return TrainFailed(summary.status(), "");
  if (!recorded) return kExitIo;
  return FinishRun(m, dir, *summary, recorder);
}

// --devices as overrides of the manifest: training.distributed.world_size (and model.device: cpu
// for CPU ranks). kExitOk, or kExitUsage after saying why not (the manifest asks for another
// number of ranks).
int DevicesAsOverrides(const manifest::Manifest& m, TrainArgs* a, std::vector<int>* gpus) {
  if (a->devices.empty()) return kExitOk;
  const Result<DeviceList> d = ParseDevices(a->devices);
  if (!d.ok()) {
    std::cerr << "error: " << d.status().message() << "\n";
    return kExitUsage;
  }
  const int count = d->count * a->nnodes;  // every machine gives as many
  if (m.IsSet("training.distributed.world_size") && m.training.distributed->world_size != count) {
    const std::string key = "training.distributed.world_size";
    PrintDiagnostics(
        {{manifest::Severity::kError,
          key,
          m.LocationOf(key),
          "--devices " + a->devices + " gives " + std::to_string(count) + " rank(s)" +
              (a->nnodes > 1 ? " on " + std::to_string(a->nnodes) + " machines" : "") + ", but " +
              key + " is " + std::to_string(m.training.distributed->world_size),
          {"name as many devices as ranks, or leave world_size out of the "
           "manifest"}}});
    return kExitUsage;
  }
  if (!d->cpu && m.model.device == "cpu") {
    std::cerr << "error: --devices " << a->devices
              << " names GPUs, but model.device is cpu; give CPU ranks (--devices cpu:" << d->count
              << ") or set model.device: auto\n";
    return kExitUsage;
  }
  if (count > 1) {
    a->overrides.push_back("training.distributed.world_size=" + std::to_string(count));
  }
  if (d->cpu) a->overrides.push_back("model.device=cpu");
  // GPUs were named: a machine without one says so rather than training on the CPU.
  if (!d->cpu && m.model.device == "auto") a->overrides.push_back("model.device=cuda");
  *gpus = d->gpus;
  // One GPU: this process trains on it (with more, each rank's launcher sets its own).
  if (count == 1) setenv("CUDA_VISIBLE_DEVICES", VisibleGpus(d->gpus).c_str(), 1);
  return kExitOk;
}

// Where this machine's ranks stand: --nnodes, --node-rank and --master against the manifest's
// world size. kExitOk, or kExitUsage after saying why not.
int TopologyOf(const TrainArgs& a, std::int64_t world, Topology* t) {
  t->nnodes = a.nnodes;
  t->node_rank = a.node_rank;
  t->local = static_cast<int>(world);
  if (a.nnodes == 1 && a.master.empty()) return kExitOk;
  const auto fail = [](const std::string& why) {
    std::cerr << "error: " << why << "\n";
    return kExitUsage;
  };
  if (a.nnodes < 1 || a.node_rank < 0 || a.node_rank >= a.nnodes) {
    return fail("--node-rank " + std::to_string(a.node_rank) + " is not a node of --nnodes " +
                std::to_string(a.nnodes) + " (0 to " + std::to_string(a.nnodes - 1) + ")");
  }
  if (world % a.nnodes != 0) {
    return fail("training.distributed.world_size " + std::to_string(world) +
                " is not a multiple of --nnodes " + std::to_string(a.nnodes) +
                ": every machine runs as many ranks");
  }
  if (a.master.empty())
    return fail("--nnodes " + std::to_string(a.nnodes) +
                " needs --master HOST:PORT, node 0's address and a free port");
  const Result<std::pair<std::string, int>> master = ParseMaster(a.master);
  if (!master.ok()) return fail(master.status().message());
  t->local = static_cast<int>(world / a.nnodes);
  t->master_addr = master->first;
  t->master_port = master->second;
  return kExitOk;
}

// The arguments each rank runs with: this run's, with the seed, run directory and devices
// settled so that every rank trains the same manifest into the same place.
std::vector<std::string> RankArgs(const TrainArgs& a, const manifest::Manifest& m,
                                  const std::string& dir) {
  std::vector<std::string> args = {"train", a.file};
  for (const std::string& o : a.overrides) args.insert(args.end(), {"--set", o});
  args.insert(args.end(), {"--set", "seed=" + std::to_string(*m.seed), "--output", dir});
  if (!a.resume.empty()) args.insert(args.end(), {"--resume", a.resume});
  if (!a.events.empty()) args.insert(args.end(), {"--events", a.events});
  if (!a.report.empty()) {
    args.insert(args.end(), {"--report", a.report, "--job-id", std::to_string(a.job_id)});
  }
  if (!a.base_dir.empty()) args.insert(args.end(), {"--base-dir", a.base_dir});
  return args;
}

int RunTrain(TrainArgs a) {
  manifest::LoadOptions options;
  options.overrides = a.overrides;
  manifest::LoadResult r = LoadManifestArg(a.file, options);
  PrintDiagnostics(r.diagnostics);
  if (!r.ok()) return kExitInvalid;
  std::vector<int> gpus;
  if (!a.devices.empty()) {
    if (const int rc = DevicesAsOverrides(*r.manifest, &a, &gpus); rc != kExitOk) return rc;
    options.overrides = a.overrides;
    r = LoadManifestArg(a.file, options);
    PrintDiagnostics(r.diagnostics);
    if (!r.ok()) return kExitInvalid;
  }
  manifest::Manifest m = *r.manifest;
  if (const auto trainable = plan::CheckTrainable(m); manifest::HasErrors(trainable)) {
    PrintDiagnostics(trainable);
    return kExitInvalid;
  }
  const std::vector<manifest::Diagnostic> unsupported = plan::CheckSupport(m);
  if (!unsupported.empty()) {
    PrintDiagnostics(unsupported);
    return kExitUnsupported;
  }
  if (a.strict && !CheckLock(m, DataDir(a))) return kExitInvalid;
  const Result<std::optional<engine::RankOptions>> ranks = RankFromEnvironment();
  if (!ranks.ok()) {
    std::cerr << "error: " << ranks.status().message() << "\n";
    return kExitUsage;
  }
  if ((*ranks || a.nnodes > 1) && !m.seed) {
    // Ranks started by another launcher (torchrun) would each draw their own.
    std::cerr << "error: a rank started with RANK and WORLD_SIZE, or on one of --nnodes "
                 "machines, needs `seed` in the manifest (every rank must draw the same weights, "
                 "split and order): add seed: N, or --set seed=N on every rank\n";
    return kExitUsage;
  }
  if (!m.seed) m.seed = static_cast<std::int64_t>(std::random_device{}() & 0x7fffffff);
  std::optional<std::int64_t> resume_step;
  if (!a.resume.empty()) {
    Result<std::int64_t> step = engine::CheckpointStep(a.resume);
    if (!step.ok()) {
      std::cerr << "error: --resume: " << step.status().message() << "\n";
      return kExitInvalid;
    }
    resume_step = *step;
  }
  // Resuming continues the checkpoint's own run directory unless --output says otherwise.
  const std::string resume_run = a.resume.empty() ? "" : run::Layout::RunOfCheckpoint(a.resume);
  const std::string dir = !a.output.empty()     ? a.output
                          : !resume_run.empty() ? resume_run
                                                : m.output.dir;
  if (a.evaluate) return PrintEvaluation(m, a);
  if (a.dry_run) {
    engine::TrainOptions plan;
    plan.base_dir = DataDir(a);
    plan.run_dir = dir;
    plan.seed = static_cast<std::uint64_t>(*m.seed);
    return PrintDryRun(m, plan);
  }
  const std::int64_t world = plan::WorldSize(m);
  if (!*ranks && world > 1) {  // this process launches the ranks
    if (a.file == "-") {
      std::cerr << "error: a data-parallel run's ranks read the manifest from a file: save it and "
                   "train the file rather than stdin\n";
      return kExitUsage;
    }
    Topology t;
    if (const int rc = TopologyOf(a, world, &t); rc != kExitOk) return rc;
    return LaunchRanks(RankArgs(a, m, dir), t, gpus, 30);
  }
  if (*ranks && (*ranks)->world_size != world) {
    std::cerr << "error: WORLD_SIZE is " << (*ranks)->world_size
              << " but training.distributed.world_size is " << world
              << ": every rank of the run must be counted in the manifest\n";
    return kExitUsage;
  }
  if (*ranks && (*ranks)->rank > 0) return TrainRank(a, m, dir, **ranks);
  if (*ranks) std::signal(SIGPIPE, SIG_IGN);  // a peer gone is Gloo's error to report
  if (int rc = PrepareRunDir(a, m, dir, resume_step.has_value()); rc != kExitOk) return rc;
  return TrainInto(a, m, dir, resume_step, *ranks);
}

}  // namespace

void AddTrainCommand(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<TrainArgs>();
  CLI::App* cmd = app.add_subcommand("train", "Train a manifest here, in the foreground");
  cmd->add_option("FILE", args->file, "The manifest")->required();
  cmd->add_option("--set", args->overrides, "Override a key: PATH=VALUE (repeatable)");
  cmd->add_option("--output,-o", args->output, "Run directory (default: output.dir)");
  cmd->add_option("--resume", args->resume,
                  "Continue exactly from a checkpoint directory (RUN/checkpoints/step-N)");
  cmd->add_flag("--dry-run", args->dry_run,
                "Print the resolved config and the plan (data sizes, parameters, steps, memory) "
                "without training");
  cmd->add_flag("--evaluate", args->evaluate,
                "Evaluate the model as the manifest loads it (model.source, LoRA adapters "
                "included) on the validation and test splits, without training; prints the "
                "metrics as JSON");
  cmd->add_flag("--strict", args->strict,
                "Train a lock file (`entrenar lock`) only if its data and model files still have "
                "the locked hashes");
  cmd->add_option("--events", args->events,
                  "Also append every event as a JSON line to this file (used by entrenard)");
  cmd->add_option(
      "--report", args->report,
      "Stream the --events lines to entrenard's WorkerService here (used by entrenard)");
  cmd->add_option("--job-id", args->job_id, "The entrenard job this run is (with --report)");
  cmd->add_option("--base-dir", args->base_dir,
                  "Resolve relative data paths here (default: the manifest's folder)");
  cmd->add_option("--nnodes", args->nnodes,
                  "Machines in a data-parallel run (each starts its ranks with the same command "
                  "and its own --node-rank)");
  cmd->add_option("--node-rank", args->node_rank, "This machine's place among --nnodes (0 first)");
  cmd->add_option("--master", args->master,
                  "Node 0's HOST:PORT, where the ranks meet (with --nnodes)");
  cmd->add_option("--devices", args->devices,
                  "Train data-parallel, one process per device: GPU indices (0,1,2,3) or CPU "
                  "ranks (cpu:2); sets training.distributed.world_size");
  cmd->callback([args, exit_code] { *exit_code = RunTrain(*args); });
}

}  // namespace entrenar::worker
