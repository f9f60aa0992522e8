// APISIX stops its runner with SIGTERM. When APISIX itself dies without sending one (SIGKILL,
// a crash), nothing tells the runner: it would keep its socket, its upstream credentials and
// its memory for good, beside the runner the next APISIX spawns. The runner is re-parented
// then, so a changed parent pid is the signal to stop the way SIGTERM stops it.

/** Calls `stop` once the parent this process started with is gone. Never fires for a runner started by init. */
export function onParentGone(stop: () => void, intervalMs = 1000, parentPid: () => number = () => process.ppid): NodeJS.Timeout {
  const parent = parentPid();
  const timer = setInterval(() => {
    if (parentPid() === parent) return;
    clearInterval(timer);
    stop();
  }, intervalMs);
  timer.unref();
  return timer;
}
