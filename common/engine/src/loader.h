// The training batches of one epoch, in order. Internal to the engine (includes LibTorch).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "entrenar/base/status.h"

namespace entrenar::engine {

// A data error found while a batch is built (an image that cannot be decoded): thrown through
// the loader, returned by Train as its status.
class BatchError : public std::runtime_error {
 public:
  explicit BatchError(Status status)
      : std::runtime_error(status.message()), status_(std::move(status)) {}
  const Status& status() const { return status_; }

 private:
  Status status_;
};

// Builds a batch's inputs from the rows it holds (image data); may throw BatchError.
using InputBuilder = std::function<torch::Tensor(const torch::Tensor& rows)>;
// Builds a batch (inputs, targets) from the rows it holds: training data made afresh each epoch
// (augmented images or text); may throw BatchError.
using BatchBuilder =
    std::function<std::pair<torch::Tensor, torch::Tensor>(const torch::Tensor& rows)>;

struct LoaderOptions {
  std::int64_t batch_size = 32;
  std::int64_t num_workers = 0;      // 0: batches are built on the training thread
  std::int64_t prefetch_factor = 2;  // batches each worker builds ahead
  bool pin_memory = false;           // page-locked batches (only with a CUDA device)
  torch::Device device = torch::kCPU;
  BatchBuilder build;  // set: a batch is built from its rows, not taken from x and y
};

// Batches first..batches-1 of `order` (a permutation of the rows of x and y). With workers,
// worker w builds batches first+w, first+w+W, ... ahead of time, so Next() returns exactly the
// batches (and bytes) the single-threaded loader would, in the same order.
class BatchLoader {
 public:
  BatchLoader(torch::Tensor x, torch::Tensor y, torch::Tensor order, std::int64_t first,
              std::int64_t batches, LoaderOptions options);
  ~BatchLoader();  // stops and joins the workers
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  // The next batch (inputs, targets) on the device. Rethrows a worker's exception.
  std::pair<torch::Tensor, torch::Tensor> Next();

 private:
  using Batch = std::pair<torch::Tensor, torch::Tensor>;
  struct Queue {
    std::mutex mu;  // guards items and error
    std::condition_variable changed;
    std::deque<Batch> items;
    std::exception_ptr error;
  };

  Batch Build(std::int64_t b) const;
  void Work(std::size_t w);

  torch::Tensor x_, y_, order_;
  std::int64_t first_, batches_, next_;
  LoaderOptions options_;
  std::atomic<bool> stopping_{false};
  std::vector<std::unique_ptr<Queue>> queues_;
  std::vector<std::thread> workers_;
};

}  // namespace entrenar::engine
