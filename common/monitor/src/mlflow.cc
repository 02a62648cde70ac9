// The MLflow tracking backend: REST calls on a background thread.
#include "entrenar/monitor/mlflow.h"

#include <cctype>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "http.h"

namespace entrenar::monitor {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kMetricsPerBatch = 1000, kParamsPerBatch = 100, kMaxQueued = 100000;

struct Point {
  std::string key;
  double value;
  std::int64_t unix_ms, step;
};

std::string UrlEncode(const std::string& s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

struct MlflowTracker::Impl {
  MlflowOptions o;
  HttpUrl url;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Point> queue;  // guarded by mu
  bool finishing = false;   // guarded by mu
  std::string final_status;
  Clock::time_point deadline = Clock::time_point::max();
  std::string run_id;
  std::set<std::string> warned;
  std::thread thread;

  void Warn(const std::string& kind, const std::string& message) {
    if (warned.insert(kind).second && o.warn) o.warn("mlflow: " + message);
  }

  bool PastDeadline() {
    std::lock_guard<std::mutex> lock(mu);
    return Clock::now() >= deadline;
  }

  // One call with retries. Returns the response body's JSON, or nullopt after a warning.
  std::optional<json> Call(const std::string& method, const std::string& path, const json& body,
                           const std::string& what, bool* not_found = nullptr) {
    auto backoff = o.first_backoff;
    std::string last;
    for (int attempt = 1; attempt <= o.attempts; ++attempt) {
      Result<HttpResponse> r = HttpRequest(url, method, "/api/2.0/mlflow/" + path,
                                           body.is_null() ? "" : body.dump(), o.request_timeout);
      if (r.ok() && r->status >= 200 && r->status < 300) {
        json j = json::parse(r->body, nullptr, false);
        return j.is_discarded() ? json::object() : j;
      }
      if (r.ok() && r->status == 404 && not_found) {
        *not_found = true;
        return std::nullopt;
      }
      last = r.ok() ? "HTTP " + std::to_string(r->status) + " " + r->body.substr(0, 300)
                    : r.status().message();
      const bool retry = !r.ok() || r->status == 429 || r->status >= 500;
      if (!retry) break;
      if (attempt == o.attempts || PastDeadline()) break;
      std::this_thread::sleep_for(backoff);
      backoff *= 2;
    }
    Warn(what, what + " failed: " + last);
    return std::nullopt;
  }

  bool Setup() {
    bool missing = false;
    std::optional<json> found =
        Call("GET", "experiments/get-by-name?experiment_name=" + UrlEncode(o.experiment), nullptr,
             "finding experiment " + o.experiment, &missing);
    std::string experiment_id;
    if (found && found->contains("experiment")) {
      experiment_id = (*found)["experiment"].value("experiment_id", "");
    } else if (missing) {
      std::optional<json> made =
          Call("POST", "experiments/create", {{"name", o.experiment}}, "creating experiment");
      if (made) experiment_id = made->value("experiment_id", "");
    }
    if (experiment_id.empty()) return false;
    json tags = json::array();
    for (const auto& [k, v] : o.tags) tags.push_back({{"key", k}, {"value", v}});
    std::optional<json> run = Call("POST", "runs/create",
                                   {{"experiment_id", experiment_id},
                                    {"run_name", o.run_name},
                                    {"start_time", NowMs()},
                                    {"tags", tags}},
                                   "creating the run");
    if (!run) return false;
    run_id = (*run)["run"]["info"].value("run_id", "");
    if (run_id.empty()) {
      Warn("run", "runs/create answered without a run_id");
      return false;
    }
    std::vector<std::pair<std::string, std::string>> params(o.params.begin(), o.params.end());
    for (std::size_t i = 0; i < params.size(); i += kParamsPerBatch) {
      json batch = json::array();
      for (std::size_t j = i; j < std::min(params.size(), i + kParamsPerBatch); ++j)
        batch.push_back({{"key", params[j].first}, {"value", params[j].second.substr(0, 500)}});
      Call("POST", "runs/log-batch", {{"run_id", run_id}, {"params", batch}}, "logging params");
    }
    return true;
  }

  // Sends the queue in batches; what fails stays queued. Returns false on a failure.
  bool SendQueued() {
    for (;;) {
      std::vector<Point> batch;
      {
        std::lock_guard<std::mutex> lock(mu);
        while (!queue.empty() && batch.size() < kMetricsPerBatch) {
          batch.push_back(std::move(queue.front()));
          queue.pop_front();
        }
      }
      if (batch.empty()) return true;
      json metrics = json::array();
      for (const Point& p : batch) {
        metrics.push_back(
            {{"key", p.key}, {"value", p.value}, {"timestamp", p.unix_ms}, {"step", p.step}});
      }
      if (!Call("POST", "runs/log-batch", {{"run_id", run_id}, {"metrics", metrics}},
                "logging metrics")) {
        std::lock_guard<std::mutex> lock(mu);
        queue.insert(queue.begin(), batch.begin(), batch.end());
        return false;
      }
    }
  }

  void Loop() {
    const bool ready = Setup();
    if (!ready) {
      Warn("setup", "tracking is off for this run; the run directory still has every metric");
      std::lock_guard<std::mutex> lock(mu);
      queue.clear();
    }
    for (;;) {
      bool done;
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait_for(lock, o.flush_every, [&] { return finishing; });
        done = finishing;
        if (!ready) queue.clear();
        while (queue.size() > kMaxQueued) {
          queue.pop_front();
          Warn("overflow", "the server is unreachable: dropping the oldest queued metrics");
        }
      }
      if (ready) SendQueued();
      if (done) break;
    }
    if (ready) {
      Call("POST", "runs/update",
           {{"run_id", run_id}, {"status", final_status}, {"end_time", NowMs()}},
           "setting the run's status");
    }
  }
};

MlflowTracker::MlflowTracker(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

MlflowTracker::~MlflowTracker() { Finish("KILLED"); }

Result<std::unique_ptr<MlflowTracker>> MlflowTracker::Start(MlflowOptions options) {
  ENTRENAR_ASSIGN_OR_RETURN(HttpUrl url, ParseHttpUrl(options.uri));
  auto impl = std::make_unique<Impl>();
  impl->o = std::move(options);
  impl->url = url;
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->Loop(); });
  return std::unique_ptr<MlflowTracker>(new MlflowTracker(std::move(impl)));
}

void MlflowTracker::OnRow(std::int64_t step, std::int64_t unix_ms,
                          const std::map<std::string, double>& values) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  for (const auto& [key, v] : values) {
    if (std::isfinite(v)) impl_->queue.push_back({key, v, unix_ms, step});
  }
}

void MlflowTracker::Finish(const std::string& status) {
  if (!impl_->thread.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->finishing = true;
    impl_->final_status = status;
    impl_->deadline = Clock::now() + impl_->o.finish_deadline;
  }
  impl_->cv.notify_all();
  impl_->thread.join();
}

}  // namespace entrenar::monitor
