// Loopback ports for servers the tests and backup-bench start themselves (s3rver, the
// SigV4 front). Thread-safe.
#pragma once

namespace backup::testing {

// A TCP port on 127.0.0.1 that was free a moment ago, or -1.
int FreeLoopbackPort();

// Whether something accepts connections on 127.0.0.1:`port` now.
bool AcceptsOnLoopback(int port);

}  // namespace backup::testing
