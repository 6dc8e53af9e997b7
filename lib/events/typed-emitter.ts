/**
 * A minimal typed event emitter for the embedder-facing objects (Client, Torrent).
 * Unlike node:events, an 'error' with no listener is not thrown: a library that
 * serves hostile peers must not crash its host because nobody subscribed; errors are
 * also reported through the objects' own state.
 */

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Listener = (...args: any[]) => void;

export class TypedEmitter<E extends { [K in keyof E]: unknown[] }> {
  private readonly listeners = new Map<keyof E, Listener[]>();

  on<K extends keyof E>(event: K, fn: (...args: E[K]) => void): this {
    const l = this.listeners.get(event);
    if (l === undefined) this.listeners.set(event, [fn as Listener]);
    else l.push(fn as Listener);
    return this;
  }

  once<K extends keyof E>(event: K, fn: (...args: E[K]) => void): this {
    const w = (...args: E[K]): void => { this.off(event, w); fn(...args); };
    return this.on(event, w);
  }

  off<K extends keyof E>(event: K, fn: (...args: E[K]) => void): this {
    const l = this.listeners.get(event);
    if (l !== undefined) {
      const i = l.indexOf(fn as Listener);
      if (i >= 0) l.splice(i, 1);
    }
    return this;
  }

  /** Calls every listener; returns whether there was any. A throwing listener does not stop the others. */
  protected emit<K extends keyof E>(event: K, ...args: E[K]): boolean {
    const l = this.listeners.get(event);
    if (l === undefined || l.length === 0) return false;
    for (const fn of l.slice()) {
      try {
        fn(...args);
      } catch (e) {
        // A listener bug must not corrupt protocol state: report it asynchronously.
        queueMicrotask(() => { throw e; });
      }
    }
    return true;
  }

  /** Promise of the next `event` (its arguments). */
  waitFor<K extends keyof E>(event: K): Promise<E[K]> {
    return new Promise((resolve) => this.once(event, (...args: E[K]) => resolve(args)));
  }
}
