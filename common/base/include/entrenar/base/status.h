#pragma once

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace entrenar {

// Numbers equal grpc::StatusCode so the gRPC edge converts with a cast.
enum class StatusCode : int {
  kOk = 0,
  kCancelled = 1,
  kUnknown = 2,
  kInvalidArgument = 3,
  kDeadlineExceeded = 4,
  kNotFound = 5,
  kAlreadyExists = 6,
  kPermissionDenied = 7,
  kResourceExhausted = 8,
  kFailedPrecondition = 9,
  kAborted = 10,
  kOutOfRange = 11,
  kUnimplemented = 12,
  kInternal = 13,
  kUnavailable = 14,
  kDataLoss = 15,
  kUnauthenticated = 16,
};

// Returns the canonical name, e.g. "INVALID_ARGUMENT".
std::string_view StatusCodeName(StatusCode code);

// The outcome of a call that can fail for an outside reason. Cheap to copy; thread-compatible.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "INVALID_ARGUMENT: message", or "OK".
  std::string ToString() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status OkStatus() { return Status(); }
inline Status InvalidArgument(std::string m) {
  return {StatusCode::kInvalidArgument, std::move(m)};
}
inline Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status FailedPrecondition(std::string m) {
  return {StatusCode::kFailedPrecondition, std::move(m)};
}
inline Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
inline Status Unimplemented(std::string m) { return {StatusCode::kUnimplemented, std::move(m)}; }
inline Status DataLoss(std::string m) { return {StatusCode::kDataLoss, std::move(m)}; }
inline Status PermissionDenied(std::string m) {
  return {StatusCode::kPermissionDenied, std::move(m)};
}

// Reports the read of an error's value (a bug) on stderr and aborts.
[[noreturn]] inline void ValueOfError(const Status& status) {
  std::fprintf(stderr, "entrenar: bug: the value of an error was read: %s\n",
               status.message().c_str());
  std::abort();
}

// A value or the Status that explains its absence.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}          // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {}  // NOLINT: implicit by design

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  // The value; only after ok(). Reading the value of an error is a bug in the caller: it stops
  // the process with the error's message rather than reading an empty optional.
  T& value() & { return Checked(); }
  const T& value() const& { return Checked(); }
  T&& value() && { return std::move(Checked()); }
  T* operator->() { return &Checked(); }
  const T* operator->() const { return &Checked(); }
  T& operator*() & { return Checked(); }
  const T& operator*() const& { return Checked(); }

 private:
  T& Checked() {
    if (!value_) ValueOfError(status_);
    return *value_;
  }
  const T& Checked() const {
    if (!value_) ValueOfError(status_);
    return *value_;
  }

  std::optional<T> value_;
  Status status_;
};

}  // namespace entrenar

#define ENTRENAR_CONCAT_INNER_(a, b) a##b
#define ENTRENAR_CONCAT_(a, b) ENTRENAR_CONCAT_INNER_(a, b)

#define ENTRENAR_RETURN_IF_ERROR(expr)                   \
  do {                                                   \
    ::entrenar::Status entrenar_status_ = (expr);        \
    if (!entrenar_status_.ok()) return entrenar_status_; \
  } while (false)

#define ENTRENAR_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                    \
  if (!tmp.ok()) return tmp.status();                   \
  lhs = std::move(tmp).value()

#define ENTRENAR_ASSIGN_OR_RETURN(lhs, expr) \
  ENTRENAR_ASSIGN_OR_RETURN_IMPL_(ENTRENAR_CONCAT_(entrenar_result_, __LINE__), lhs, expr)
