#include "common/test_point.h"

#include <atomic>
#include <mutex>

namespace backup {
namespace {

std::atomic<bool> installed{false};

std::mutex& HookMutex() {
  static std::mutex mu;
  return mu;
}

TestPointHook& Hook() {  // guarded by HookMutex()
  static TestPointHook hook;
  return hook;
}

}  // namespace

void SetTestPointHook(TestPointHook hook) {
  std::lock_guard lock(HookMutex());
  installed.store(static_cast<bool>(hook), std::memory_order_relaxed);
  Hook() = std::move(hook);
}

void TestPoint(std::string_view point) {
  if (!installed.load(std::memory_order_relaxed)) return;
  TestPointHook copy;
  {
    std::lock_guard lock(HookMutex());
    copy = Hook();
  }
  if (copy) copy(point);
}

}  // namespace backup
