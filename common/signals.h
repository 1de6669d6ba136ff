// Signal handling for the daemons: block SIGINT, SIGTERM and SIGHUP in every thread (call
// before any thread starts), then wait for them on the main thread with sigwait and act
// from there, a thread that is not serving.
#pragma once

#include <csignal>
#include <functional>

namespace backup {

inline sigset_t DaemonSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  return set;
}

// Blocks SIGINT, SIGTERM and SIGHUP in the calling thread and every thread it creates later.
inline void BlockTerminationSignals() {
  sigset_t set = DaemonSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

// Returns the first SIGINT or SIGTERM that arrives; calls `on_hangup` for each SIGHUP
// before then (re-read configuration). REQUIRES: BlockTerminationSignals().
inline int WaitForTerminationSignal(const std::function<void()>& on_hangup = {}) {
  sigset_t set = DaemonSignals();
  for (;;) {
    int sig = 0;
    sigwait(&set, &sig);
    if (sig != SIGHUP) return sig;
    if (on_hangup) on_hangup();
  }
}

}  // namespace backup
