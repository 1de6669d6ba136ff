// Named points inside long operations where an in-process test may act at a known moment,
// e.g. swap a folder for a link while a backup is between listing and copying its files.
// Nothing is installed outside tests; a point then costs one relaxed atomic load.
// Thread-safety: SetTestPointHook and TestPoint may be called from any thread.
#pragma once

#include <functional>
#include <string_view>

namespace backup {

using TestPointHook = std::function<void(std::string_view point)>;

// Installs `hook` (an empty one removes it). It runs on the thread that reaches a point.
void SetTestPointHook(TestPointHook hook);

// Calls the installed hook with `point`, if any.
void TestPoint(std::string_view point);

}  // namespace backup
