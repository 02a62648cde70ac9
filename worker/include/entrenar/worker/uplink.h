#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace entrenar::worker {

// A worker's side of WorkerService: streams the lines of its events.jsonl to entrenard as they
// are written. The file stays the record: when the daemon is away the uplink reconnects with
// backoff (50 ms doubling to 2 s) and resends from what the daemon says it has stored, so a
// daemon restart loses and repeats nothing. Training never waits for it.
class Uplink {
 public:
  // `target`: "unix:/run/entrenar/entrenard.sock"; `token`: the attempt's secret.
  Uplink(std::string target, std::int64_t job_id, std::string token, std::string events_path);
  ~Uplink();  // Stop(2 s) if not stopped
  Uplink(const Uplink&) = delete;
  Uplink& operator=(const Uplink&) = delete;

  // A line was appended to the file.
  void Notify();
  // Sends what is left, waiting at most `timeout` for the daemon, and stops. What was not sent
  // stays in the file, where the daemon reads it.
  void Stop(std::chrono::milliseconds timeout);

  // Counters, for logs and tests.
  std::int64_t sent() const { return sent_; }
  int connections() const { return connections_; }

 private:
  void Run();
  // One connection; returns true when everything was sent and the reporter is stopping.
  bool Session();

  const std::string target_, token_, path_;
  const std::int64_t job_id_;
  std::mutex mu_;  // guards stopping_, dirty_ and deadline_ (the trainer notifies, the thread sends)
  std::condition_variable wake_;
  bool stopping_ = false;
  bool dirty_ = false;  // a Notify since the last look at the file
  std::chrono::steady_clock::time_point deadline_{};
  std::int64_t sent_ = 0;
  int connections_ = 0;
  std::thread thread_;
};

}  // namespace entrenar::worker
