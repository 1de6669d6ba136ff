// The dashboard page (server/dashboard/index.html), built into the binary by CMake.
#pragma once

namespace backup {

extern const char kDashboardPage[];

}  // namespace backup
