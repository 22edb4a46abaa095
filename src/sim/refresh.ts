// Rereads what the sim works from every so often, never two reads at once; a failed read keeps
// the last view (and says so) rather than stopping the traffic.
export function refreshEvery(everyMs: number, refresh: () => Promise<void>, onError: (err: unknown) => void): NodeJS.Timeout {
  let refreshing = false;
  return setInterval(async () => {
    if (refreshing) return;
    refreshing = true;
    try {
      await refresh();
    } catch (err) {
      onError(err);
    } finally {
      refreshing = false;
    }
  }, everyMs);
}
