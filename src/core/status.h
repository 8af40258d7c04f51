// Status and Result<T>: the error type used at every boundary (file loading,
// request parsing, flags). Errors carry a code and a message that names the
// problem and, where possible, what to do about it.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace sable {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,    // bad input from a user: request, flag, file contents
  kNotFound,           // missing file, tensor, model, path
  kOutOfRange,         // offsets/lengths outside bounds
  kFailedPrecondition, // state does not allow the operation
  kResourceExhausted,  // out of memory/blocks/queue slots
  kUnavailable,        // shutting down, try later
  kUnimplemented,
  kInternal,           // a bug in Sable
  kIoError,
};

const char* status_code_name(StatusCode c);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string msg) : code_(code), msg_(std::move(msg)) {}
  static Status ok() { return {}; }
  bool is_ok() const { return code_ == StatusCode::kOk; }
  explicit operator bool() const { return is_ok(); }
  StatusCode code() const { return code_; }
  const std::string& message() const { return msg_; }
  std::string to_string() const;
  // Prepends context ("loading model.safetensors: ...") without losing the code.
  Status with_context(const std::string& ctx) const {
    if (is_ok()) return *this;
    return Status(code_, ctx + ": " + msg_);
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string msg_;
};

inline Status invalid_argument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
inline Status not_found(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status out_of_range(std::string m) { return {StatusCode::kOutOfRange, std::move(m)}; }
inline Status failed_precondition(std::string m) { return {StatusCode::kFailedPrecondition, std::move(m)}; }
inline Status resource_exhausted(std::string m) { return {StatusCode::kResourceExhausted, std::move(m)}; }
inline Status unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
inline Status unimplemented(std::string m) { return {StatusCode::kUnimplemented, std::move(m)}; }
inline Status internal_error(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
inline Status io_error(std::string m) { return {StatusCode::kIoError, std::move(m)}; }

// Result<T>: a value or a non-ok Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T v) : v_(std::move(v)) {}                 // NOLINT(implicit)
  Result(Status s) : v_(std::move(s)) { assert(!std::get<Status>(v_).is_ok()); }  // NOLINT
  bool is_ok() const { return v_.index() == 0; }
  explicit operator bool() const { return is_ok(); }
  const Status& status() const {
    static const Status kOk;
    return is_ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { assert(is_ok()); return std::get<T>(v_); }
  const T& value() const& { assert(is_ok()); return std::get<T>(v_); }
  T&& value() && { assert(is_ok()); return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace sable

#define SABLE_CONCAT_INNER(a, b) a##b
#define SABLE_CONCAT(a, b) SABLE_CONCAT_INNER(a, b)

// Returns the status from the enclosing function when it is not ok.
#define SABLE_RETURN_IF_ERROR(expr)            \
  do {                                         \
    ::sable::Status _st = (expr);              \
    if (!_st.is_ok()) return _st;              \
  } while (0)

// SABLE_ASSIGN_OR_RETURN(auto x, make_x()); declares x or returns the error.
#define SABLE_ASSIGN_OR_RETURN(lhs, expr)                                   \
  auto SABLE_CONCAT(_res_, __LINE__) = (expr);                              \
  if (!SABLE_CONCAT(_res_, __LINE__).is_ok())                               \
    return SABLE_CONCAT(_res_, __LINE__).status();                          \
  lhs = std::move(SABLE_CONCAT(_res_, __LINE__)).value()
