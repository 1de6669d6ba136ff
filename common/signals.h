// SIGINT/SIGTERM handling for the daemons: block them in every thread (call before any
// thread starts), then wait for one on the main thread with sigwait and shut down from
// there, a thread that is not serving.
#pragma once

#include <csignal>

namespace backup {

// Blocks SIGINT and SIGTERM in the calling thread and every thread it creates later.
inline void BlockTerminationSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

// Returns the first SIGINT or SIGTERM that arrives. REQUIRES: BlockTerminationSignals().
inline int WaitForTerminationSignal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  int sig = 0;
  sigwait(&set, &sig);
  return sig;
}

}  // namespace backup
