// UvHandle<T>: one libuv handle owned by one object, with libuv's rules kept in one place. The
// handle lives on the heap because libuv may touch it until its close callback; reset() (and
// the destructor) clears handle->data before uv_close, so a callback that still arrives finds
// no owner, and the memory is freed in the close callback, never earlier. Resetting an empty
// or already closed UvHandle does nothing.
//
// Threading: the loop thread of the loop it was opened on.
#pragma once

#include <uv.h>

#include <utility>

namespace upesi {

template <typename T> class UvHandle {
public:
  UvHandle() = default;
  ~UvHandle() { reset(); }
  UvHandle(const UvHandle&) = delete;
  UvHandle& operator=(const UvHandle&) = delete;
  UvHandle(UvHandle&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  UvHandle& operator=(UvHandle&& other) noexcept {
    if (this != &other) {
      reset();
      handle_ = std::exchange(other.handle_, nullptr);
    }
    return *this;
  }

  /// Allocates the handle and runs `init(loop, handle)` (uv_timer_init, uv_check_init...);
  /// `owner` becomes handle->data. Closes the handle held before. On an error from `init`
  /// nothing is held and the error is returned.
  template <typename Init> int open(uv_loop_t* loop, Init init, void* owner) {
    reset();
    auto* handle = new T{};
    if (const int rc = init(loop, handle); rc != 0) {
      delete handle;
      return rc;
    }
    handle->data = owner;
    handle_ = handle;
    return 0;
  }

  T* get() const { return handle_; }
  uv_handle_t* base() const { return reinterpret_cast<uv_handle_t*>(handle_); }
  explicit operator bool() const { return handle_ != nullptr; }

  /// Starts closing the handle (its callbacks stop reaching the owner now).
  void reset() {
    if (handle_ == nullptr) {
      return;
    }
    T* handle = std::exchange(handle_, nullptr);
    handle->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(handle),
             [](uv_handle_t* closed) { delete reinterpret_cast<T*>(closed); });
  }

private:
  T* handle_ = nullptr;
};

} // namespace upesi
