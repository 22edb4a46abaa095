// A token bucket for the operator's own requests to the API server (client-go's flowcontrol, which
// client-node does not have): on average `qps` a second, `burst` at once. A flood of retries or a
// thousand Rollouts starting together then queues here instead of at the API server, whose
// priority and fairness would otherwise throttle every client of the cluster alike.
export class TokenBucket {
  private tokens: number;
  private last = Date.now();
  private waiting: Promise<void> = Promise.resolve();

  constructor(
    private readonly qps: number,
    private readonly burst: number,
  ) {
    this.tokens = burst;
  }

  /** Resolves when a request may go; callers are served in order. */
  take(): Promise<void> {
    const turn = this.waiting.then(() => this.next());
    this.waiting = turn;
    return turn;
  }

  private async next(): Promise<void> {
    const now = Date.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.qps);
    this.last = now;
    if (this.tokens < 1) {
      await new Promise((resolve) => setTimeout(resolve, ((1 - this.tokens) / this.qps) * 1000));
      this.tokens = 1;
      this.last = Date.now();
    }
    this.tokens -= 1;
  }
}
