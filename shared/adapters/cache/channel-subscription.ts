/**
 * One subscriber's view of a channel, as both cache adapters hand it out: live once the adapter has confirmed
 * the subscription (again after every reconnect), lost when it cannot be sure to hear every message, and ended
 * by unsubscribe. The adapter calls `confirm`, `lose` and `deliver`; the subscriber's handlers never throw into
 * the adapter, so one failing subscriber cannot stop delivery to the others or fail a publisher.
 */
import type { Subscription, SubscriptionEvents } from '../../ports/cache.ts';

export class ChannelSubscription implements Subscription {
  live = false;
  private ended = false;

  constructor(
    private readonly events: SubscriptionEvents,
    private readonly remove: () => void,
  ) {}

  confirm(): void {
    if (this.ended || this.live) return;
    this.live = true;
    ignoreThrow(() => this.events.live());
  }

  lose(): void {
    if (!this.live) return;
    this.live = false;
    ignoreThrow(() => this.events.lost());
  }

  deliver(message: string): void {
    ignoreThrow(() => this.events.message(message));
  }

  async unsubscribe(): Promise<void> {
    if (this.ended) return;
    this.lose();
    this.ended = true;
    this.remove();
  }
}

function ignoreThrow(handler: () => void): void {
  try {
    handler();
  } catch {
    // A subscriber's failure is its own: see above.
  }
}
