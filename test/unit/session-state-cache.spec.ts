import { jest } from '@jest/globals';
import { Test } from '@nestjs/testing';
import { STRIKES_DATA_SOURCE } from '../../src/strikes/strikes-data-source.provider.js';
import { SessionStateCache } from '../../src/strikes/session-state.cache.js';
import { type SessionState, StrikeCounterStore } from '../../src/strikes/strike-counter.store.js';
import { STRIKES_OPTIONS } from '../../src/strikes/strikes-options.provider.js';
import { resolveStrikesOptions } from '../../src/strikes/strikes.options.js';

/** A store whose reads the test settles by hand, to interleave them with invalidations. */
function deferredStore() {
  const pending: ((s: SessionState | null) => void)[] = [];
  const store = {
    sessionState: jest.fn(
      () => new Promise<SessionState | null>((resolve) => pending.push(resolve)),
    ),
  };
  return { store, settle: (s: SessionState | null) => pending.shift()!(s) };
}

async function cacheWith(store: object, cacheSize = 100) {
  const moduleRef = await Test.createTestingModule({
    providers: [
      SessionStateCache,
      { provide: StrikeCounterStore, useValue: store },
      { provide: STRIKES_DATA_SOURCE, useValue: { options: {} } },
      {
        provide: STRIKES_OPTIONS,
        useValue: resolveStrikesOptions({ sharedDatabase: false, cacheSize }),
      },
    ],
  }).compile();
  return moduleRef.get(SessionStateCache);
}

const active: SessionState = { status: 'active', sessionVersion: 0, blockedUntil: null };
const blocked: SessionState = { status: 'blocked', sessionVersion: 1, blockedUntil: null };

describe('the session state cache', () => {
  it('answers synchronously once a state was read', async () => {
    const { store, settle } = deferredStore();
    const cache = await cacheWith(store);
    const first = cache.read('u');
    expect(first).toBeInstanceOf(Promise);
    settle(active);
    await first;
    expect(cache.read('u')).toEqual(active);
    expect(store.sessionState).toHaveBeenCalledTimes(1);
  });

  it('does not cache a read that raced with an invalidation (it may predate the change)', async () => {
    const { store, settle } = deferredStore();
    const cache = await cacheWith(store);
    const stale = cache.read('u');
    cache.invalidate('u'); // the user was blocked meanwhile
    settle(active);
    expect(await stale).toEqual(active);
    const next = cache.read('u');
    expect(next).toBeInstanceOf(Promise);
    settle(blocked);
    expect(await next).toEqual(blocked);
    expect(cache.read('u')).toEqual(blocked);
  });

  it('an invalidation of another user also discards reads in flight (generation, not key)', async () => {
    const { store, settle } = deferredStore();
    const cache = await cacheWith(store);
    const read = cache.read('a');
    cache.invalidate('b');
    settle(active);
    await read;
    expect(cache.read('a')).toBeInstanceOf(Promise);
  });

  it('evicts the least recently used entry beyond cacheSize', async () => {
    const store = { sessionState: jest.fn(async () => active) };
    const cache = await cacheWith(store, 2);
    await cache.read('a');
    await cache.read('b');
    cache.read('a'); // a is now the most recent
    await cache.read('c');
    expect(cache.get('a')).toEqual(active);
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('c')).toEqual(active);
  });

  it('never caches a user without a counter', async () => {
    const store = { sessionState: jest.fn(async () => null) };
    const cache = await cacheWith(store);
    await cache.read('ghost');
    expect(cache.read('ghost')).toBeInstanceOf(Promise);
  });
});
