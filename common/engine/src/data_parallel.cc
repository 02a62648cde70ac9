// Data-parallel training over c10d: TCPStore rendezvous, ProcessGroupGloo collectives, and
// gradient buckets all-reduced from autograd hooks while backward runs (DDP's reducer, in the
// small: buckets in reverse parameter order, launched in bucket order so every rank issues the
// same collectives in the same order).
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO  // the header is guarded by the macro LibTorch's own build defines
#endif

#include "data_parallel.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <unordered_set>

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

namespace entrenar::engine {

namespace {

// Whether a collective's error says a peer is gone or silent (rather than a local failure).
bool PeerFailure(const std::string& why) {
  for (const char* sign : {"Timed out", "timed out", "Timeout", "closed", "Connection", "reset",
                           "Broken pipe", "EOF", "peer", "Socket", "socket"}) {
    if (why.find(sign) != std::string::npos) return true;
  }
  return false;
}

// The type a parameter's gradients are reduced in: float32 for bfloat16 and float16 (LibTorch
// 1.13's Gloo has no bfloat16 reduction, and float32 sums cannot overflow float16's range).
torch::ScalarType ReduceType(const torch::Tensor& p) {
  const auto t = p.scalar_type();
  return t == torch::kBFloat16 || t == torch::kHalf ? torch::kFloat : t;
}

}  // namespace

// The rendezvous store and the process group. (LibTorch 2 made ProcessGroupGloo a backend
// rather than a ProcessGroup; its own type has the calls in both.)
struct RankLinks {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
  std::chrono::milliseconds timeout{0};  // the collective timeout
  int rank = 0, size = 1;
  std::chrono::seconds timeout_seconds{0};

  // Waits for `work`; throws RankLost (saying what failed) when a peer is gone or the wait times
  // out, std::runtime_error for a failure of this rank's own (a tensor Gloo cannot reduce).
  void Wait(const c10::intrusive_ptr<c10d::Work>& work, const char* what) const {
    try {
      work->wait(timeout);
    } catch (const std::exception& e) {
      const std::string why = e.what();
      if (!PeerFailure(why)) {
        throw std::runtime_error(std::string(what) + " failed on rank " + std::to_string(rank) +
                                 ": " + why.substr(0, why.find('\n')));
      }
      throw RankLost("rank " + std::to_string(rank) + " of " + std::to_string(size) + ": " + what +
                     " failed, so another rank died, hung or stopped (collective "
                     "timeout " +
                     std::to_string(timeout_seconds.count()) +
                     " s): " + why.substr(0, why.find('\n')));
    }
  }
};

// A bucket: parameters' gradients side by side in one flat tensor, all-reduced at once.
struct Bucket {
  torch::Tensor flat;
  std::vector<std::size_t> slots;  // indices into GradientBuckets::slots
  std::size_t ready = 0;           // slots filled in this backward
  c10::intrusive_ptr<c10d::Work> work;
  bool launched = false;
};

// One parameter's place in its bucket.
struct Slot {
  torch::Tensor param;
  std::size_t bucket = 0;
  std::int64_t offset = 0, numel = 0;
  bool filled = false;
};

// What the hooks share with DataParallel (they hold it, so a hook that outlives the run finds
// `group` gone and does nothing).
struct GradientBuckets {
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
  std::vector<Bucket> buckets;
  std::vector<Slot> slots;
  std::size_t next = 0;  // the next bucket to launch
  bool sync = false;
  double wait_seconds = 0;

  // Launches every ready bucket from `next` on, in order.
  void LaunchReady() {
    while (next < buckets.size() && buckets[next].ready == buckets[next].slots.size()) {
      Bucket& b = buckets[next++];
      std::vector<torch::Tensor> tensors{b.flat};
      b.work = group->allreduce(tensors);
      b.launched = true;
    }
  }

  // A parameter's gradient of this backward: what its .grad will hold (with accumulated
  // micro-batches) is copied into its bucket.
  void OnGradient(std::size_t i, const torch::Tensor& grad) {
    if (!sync || !group) return;
    Slot& s = slots[i];
    if (s.filled) return;  // a second gradient for one leaf cannot come in one backward
    Bucket& b = buckets[s.bucket];
    torch::NoGradGuard no_grad;
    torch::Tensor into = b.flat.narrow(0, s.offset, s.numel).view(s.param.sizes());
    into.copy_(grad);
    if (s.param.grad().defined()) into.add_(s.param.grad());
    s.filled = true;
    ++b.ready;
    LaunchReady();
  }
};

namespace {

constexpr std::int64_t kFirstBucketBytes = 1 << 20;  // DDP's: the first reduce starts early
constexpr std::int64_t kBucketBytes = 25 << 20;      // DDP's bucket_cap_mb default

std::string Where(const RankOptions& o) {
  return o.master_addr + ":" + std::to_string(o.master_port);
}

bool Loopback(const std::string& host) {
  return host == "127.0.0.1" || host == "localhost" || host == "::1";
}

// The address of this machine that its route to `host` leaves from, or "" when `host` does not
// resolve (a UDP socket's connect sends nothing: it only picks the route).
std::string LocalAddressToward(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), "9", &hints, &found) != 0) return "";
  std::string out;
  for (const addrinfo* a = found; a != nullptr && out.empty(); a = a->ai_next) {
    const int fd = socket(a->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    sockaddr_storage local{};
    socklen_t size = sizeof(local);
    if (connect(fd, a->ai_addr, a->ai_addrlen) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&local), &size) == 0) {
      char text[INET6_ADDRSTRLEN] = {};
      const void* address =
          local.ss_family == AF_INET6
              ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in6*>(&local)->sin6_addr)
              : static_cast<const void*>(&reinterpret_cast<const sockaddr_in*>(&local)->sin_addr);
      if (inet_ntop(local.ss_family, address, text, sizeof(text)) != nullptr) out = text;
    }
    close(fd);
  }
  freeaddrinfo(found);
  return out;
}

// The network device Gloo's pairs use: GLOO_SOCKET_IFNAME's interface when set (as PyTorch
// reads it), the loopback for a master on this machine, else the address this machine reaches
// the master from. Not Gloo's default (the hostname's address): Debian's /etc/hosts maps the
// hostname to 127.0.1.1, which no other machine can reach.
std::shared_ptr<::gloo::transport::Device> GlooDevice(const std::string& master) {
  const char* interface = std::getenv("GLOO_SOCKET_IFNAME");
  if (interface != nullptr && interface[0] != '\0') {
    return c10d::ProcessGroupGloo::createDeviceForInterface(interface);
  }
  if (Loopback(master)) return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  const std::string local = LocalAddressToward(master);
  return local.empty() ? c10d::ProcessGroupGloo::createDefaultDevice()
                       : c10d::ProcessGroupGloo::createDeviceForHostname(local);
}

}  // namespace

DataParallel::DataParallel(RankOptions options)
    : options_(std::move(options)), links_(std::make_shared<RankLinks>()) {
  links_->rank = options_.rank;
  links_->size = options_.world_size;
  links_->timeout_seconds = options_.collective_timeout;
  links_->timeout =
      std::chrono::duration_cast<std::chrono::milliseconds>(options_.collective_timeout);
}

Result<std::unique_ptr<DataParallel>> DataParallel::Join(const RankOptions& options) {
  std::unique_ptr<DataParallel> dp(new DataParallel(options));
  RankLinks& links = *dp->links_;
  c10d::TCPStoreOptions store;
  store.port = static_cast<std::uint16_t>(options.master_port);
  store.isServer = options.rank == 0 && !options.store_served;
  store.numWorkers = static_cast<std::size_t>(options.world_size);
  store.waitWorkers = false;
  store.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(options.rendezvous_timeout);
  try {
    links.store = c10::make_intrusive<c10d::TCPStore>(options.master_addr, store);
  } catch (const std::exception& e) {
    const std::string what = e.what();
    if (options.rank == 0 && what.find("in use") != std::string::npos) {
      return Status(StatusCode::kAlreadyExists,
                    "rank 0 cannot serve the rendezvous on port " +
                        std::to_string(options.master_port) +
                        ": the port is in use; choose another (MASTER_PORT)");
    }
    return Status(StatusCode::kUnavailable, "rank " + std::to_string(options.rank) +
                                                " cannot reach the master at " + Where(options) +
                                                " within " +
                                                std::to_string(options.rendezvous_timeout.count()) +
                                                " s: " + what.substr(0, what.find('\n')));
  }
  auto gloo = c10d::ProcessGroupGloo::Options::create(
      std::chrono::duration_cast<std::chrono::milliseconds>(options.collective_timeout));
  gloo->threads = 2;
  try {
    gloo->devices.push_back(GlooDevice(options.master_addr));
  } catch (const std::exception& e) {  // GLOO_SOCKET_IFNAME names no interface, say
    const std::string what = e.what();
    return Status(StatusCode::kInvalidArgument,
                  "rank " + std::to_string(options.rank) +
                      ": no network device for the collectives (GLOO_SOCKET_IFNAME=" +
                      (std::getenv("GLOO_SOCKET_IFNAME") ? std::getenv("GLOO_SOCKET_IFNAME") : "") +
                      "): " + what.substr(0, what.find('\n')));
  }
  try {
    auto prefixed = c10::make_intrusive<c10d::PrefixStore>("gloo", links.store);
    links.group = c10::make_intrusive<c10d::ProcessGroupGloo>(prefixed, options.rank,
                                                              options.world_size, gloo);
  } catch (const std::exception& e) {
    const std::string what = e.what();
    return Status(StatusCode::kUnavailable,
                  "rank " + std::to_string(options.rank) + " of " +
                      std::to_string(options.world_size) + ": the ranks did not all join at " +
                      Where(options) + ": " + what.substr(0, what.find('\n')));
  }
  return dp;
}

DataParallel::~DataParallel() {
  if (buckets_) buckets_->group.reset();
}

Status DataParallel::Agree(const std::string& fingerprint, const std::string& what) {
  const auto key = [](int r) { return "fingerprint/" + std::to_string(r); };
  try {
    links_->store->set(key(rank()),
                       std::vector<std::uint8_t>(fingerprint.begin(), fingerprint.end()));
    for (int r = 0; r < size(); ++r) {
      links_->store->wait({key(r)}, std::chrono::duration_cast<std::chrono::milliseconds>(
                                        options_.collective_timeout));
    }
    const std::vector<std::uint8_t> first = links_->store->get(key(0));
    for (int r = 1; r < size(); ++r) {
      if (links_->store->get(key(r)) != first) {
        return InvalidArgument("rank " + std::to_string(r) + "'s " + what +
                               " differ from rank 0's: every rank must train the same manifest "
                               "on the same data (check that each node has the same files)");
      }
    }
  } catch (const std::exception& e) {
    const std::string why = e.what();
    return Status(StatusCode::kUnavailable,
                  "rank " + std::to_string(rank()) +
                      ": the ranks did not all check in: " + why.substr(0, why.find('\n')));
  }
  return OkStatus();
}

namespace {

// Rank 0's values of `tensors`, copied into every rank's (through float32 where Gloo has no
// reduction of the type).
void BroadcastTensors(RankLinks& links, const std::vector<torch::Tensor>& tensors,
                      const char* what) {
  torch::NoGradGuard no_grad;
  for (const torch::Tensor& t : tensors) {
    const bool cast = ReduceType(t) != t.scalar_type();
    std::vector<torch::Tensor> one{cast ? t.to(ReduceType(t)) : t};
    links.Wait(links.group->broadcast(one, c10d::BroadcastOptions()), what);
    if (cast) t.copy_(one[0]);
  }
}

}  // namespace

void DataParallel::Broadcast(torch::nn::Module& net) {
  std::vector<torch::Tensor> tensors = net.parameters();
  for (const torch::Tensor& b : net.buffers()) tensors.push_back(b);
  BroadcastTensors(*links_, tensors, "broadcasting rank 0's weights");
}

void DataParallel::BroadcastBuffers(torch::nn::Module& net) {
  const std::vector<torch::Tensor> buffers = net.buffers();
  if (!buffers.empty()) BroadcastTensors(*links_, buffers, "broadcasting rank 0's buffers");
}

void DataParallel::Attach(torch::nn::Module& net, bool find_unused) {
  buckets_ = std::make_shared<GradientBuckets>();
  buckets_->group = links_->group;
  find_unused_ = find_unused;
  std::vector<torch::Tensor> params;
  std::unordered_set<const void*> seen;  // a tied weight is one parameter
  for (const auto& item : net.named_parameters()) {
    const torch::Tensor& p = item.value();
    if (!p.requires_grad() || !seen.insert(p.unsafeGetTensorImpl()).second) continue;
    params.push_back(p);
    names_.push_back(item.key());
  }
  std::reverse(params.begin(), params.end());
  std::reverse(names_.begin(), names_.end());
  std::int64_t bytes = 0, cap = kFirstBucketBytes;
  for (const torch::Tensor& p : params) {
    auto& bs = buckets_->buckets;
    const torch::TensorOptions kind = p.options().dtype(ReduceType(p)).requires_grad(false);
    const auto size = p.numel() * static_cast<std::int64_t>(torch::elementSize(ReduceType(p)));
    const bool fits = !bs.empty() && bytes + size <= cap &&
                      bs.back().flat.scalar_type() == ReduceType(p) &&
                      bs.back().flat.device() == p.device();
    if (!fits) {
      if (!bs.empty()) cap = kBucketBytes;
      bs.push_back(Bucket{torch::empty({0}, kind), {}, 0, {}, false});
      bytes = 0;
    }
    Slot s{p, bs.size() - 1, bs.back().flat.numel(), p.numel(), false};
    bs.back().flat = torch::empty({s.offset + s.numel}, kind);
    bs.back().slots.push_back(buckets_->slots.size());
    bytes += size;
    buckets_->slots.push_back(s);
  }
  std::weak_ptr<GradientBuckets> state = buckets_;
  for (std::size_t i = 0; i < buckets_->slots.size(); ++i) {
    torch::Tensor p = buckets_->slots[i].param;
    p.register_hook([state, i](const torch::Tensor& grad) {
      if (auto s = state.lock()) s->OnGradient(i, grad);
    });
  }
}

void DataParallel::SetSync(bool sync) {
  if (!buckets_) return;
  buckets_->sync = sync;
  if (!sync) return;
  for (Bucket& b : buckets_->buckets) {
    b.ready = 0;
    b.launched = false;
    b.work.reset();
  }
  for (Slot& s : buckets_->slots) s.filled = false;
  buckets_->next = 0;
}

void DataParallel::FinishGradients() {
  GradientBuckets& g = *buckets_;
  torch::NoGradGuard no_grad;
  // A parameter that took no part in this backward adds what it holds (or nothing).
  for (std::size_t i = 0; i < g.slots.size(); ++i) {
    Slot& s = g.slots[i];
    if (s.filled) continue;
    if (!find_unused_) {
      // As DDP: every rank finds it in the same backward, so all stop here, before a collective.
      throw UnusedParameter(names_[i]);
    }
    Bucket& b = g.buckets[s.bucket];
    torch::Tensor into = b.flat.narrow(0, s.offset, s.numel).view(s.param.sizes());
    if (s.param.grad().defined()) {
      into.copy_(s.param.grad());
    } else {
      into.zero_();
    }
    s.filled = true;
    ++b.ready;
  }
  g.LaunchReady();
  const auto started = std::chrono::steady_clock::now();
  for (Bucket& b : g.buckets) {
    links_->Wait(b.work, "the gradient all-reduce");
    b.flat.div_(size());
  }
  g.wait_seconds +=
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  for (const Slot& s : g.slots) {
    torch::Tensor mean =
        g.buckets[s.bucket].flat.narrow(0, s.offset, s.numel).view(s.param.sizes());
    if (s.param.grad().defined()) {
      s.param.mutable_grad().copy_(mean);
    } else {
      s.param.mutable_grad() = mean.to(s.param.scalar_type(), /*non_blocking=*/false,
                                       /*copy=*/true);
    }
  }
  g.sync = false;
}

std::vector<double> DataParallel::Sum(const std::vector<double>& values) {
  torch::Tensor t = torch::tensor(values, torch::kDouble);
  std::vector<torch::Tensor> one{t};
  links_->Wait(links_->group->allreduce(one), "a reduction of step values");
  return std::vector<double>(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
}

double DataParallel::TakeWaitSeconds() {
  if (!buckets_) return 0;
  const double s = buckets_->wait_seconds;
  buckets_->wait_seconds = 0;
  return s;
}

}  // namespace entrenar::engine
