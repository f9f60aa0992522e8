// Per-call deadlines. APISIX gives each call a deadline (the conf's timeout); a call that
// passes it is answered 504 by the host instead of waiting for a slow plugin.

/** The call ran past its deadline: the host answers 504. */
export class DeadlineError extends Error {}

/**
 * Deadlines of all calls in flight behind one timer, armed for the earliest one: a call costs
 * a Set insert and delete instead of a setTimeout/clearTimeout pair.
 */
export class Deadlines {
  private readonly waiting = new Set<{ deadline: number; reject: (e: unknown) => void }>();
  private timer: NodeJS.Timeout | undefined;
  private armedFor = Infinity;

  race<T>(work: Promise<T>, deadline: number): Promise<T> {
    if (deadline - Date.now() <= 0) return Promise.reject(new DeadlineError('deadline passed'));
    return new Promise<T>((resolve, reject) => {
      const waiter = { deadline, reject };
      if (this.waiting.size === 0) this.timer?.ref();
      this.waiting.add(waiter);
      if (deadline < this.armedFor) this.arm(deadline);
      work.then(
        (v) => {
          this.done(waiter);
          resolve(v);
        },
        (e: unknown) => {
          this.done(waiter);
          reject(e);
        },
      );
    });
  }

  private done(waiter: { deadline: number; reject: (e: unknown) => void }): void {
    this.waiting.delete(waiter);
    // Nothing in flight: the timer must not keep the process alive (it stays armed, cheaply).
    if (this.waiting.size === 0) this.timer?.unref();
  }

  private arm(at: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.armedFor = at;
    this.timer = setTimeout(this.fire, Math.max(0, at - Date.now()));
  }

  private readonly fire = (): void => {
    this.timer = undefined;
    this.armedFor = Infinity;
    const now = Date.now();
    let next = Infinity;
    for (const w of this.waiting) {
      if (w.deadline <= now) {
        this.waiting.delete(w);
        w.reject(new DeadlineError('deadline passed'));
      } else if (w.deadline < next) next = w.deadline;
    }
    if (next !== Infinity) this.arm(next);
    else this.timer = undefined;
  };
}

const deadlines = new Deadlines();

/** Race `work` against the call's deadline (ms since the epoch). */
export function withDeadline<T>(work: Promise<T>, deadline: number): Promise<T> {
  return deadlines.race(work, deadline);
}
