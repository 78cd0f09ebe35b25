import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * Login abuse protection. `login_throttle` holds one row per lane and key:
 *
 * - `account_source`, `account_device`, `hard`: consecutive failures (reset by a success);
 * - `account`, `source`: failures in a fixed window that starts with its first failure.
 *
 * Accounts are HMACs of the normalised login name (the table never holds a username), sources are
 * IPv4 /32 or IPv6 /64 prefixes. `login_accounts` maps an account key to the host's user id once a
 * failure or a success on an existing account told it; `login_devices` holds the trusted devices
 * (a device token is only valid while its row exists).
 *
 * `strikeguard_login_admit` is the one statement an attempt costs: it locks the attempt's lanes in
 * key order, decides on the database clock, and pre-charges every lane when it admits, so racing
 * attempts on any number of instances never pass a limit.
 */
export class CreateLoginThrottle1764100004000 implements MigrationInterface {
  name = 'CreateLoginThrottle1764100004000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE login_throttle (
        lane            text        NOT NULL
                        CHECK (lane IN ('account', 'account_device', 'account_source', 'hard', 'source')),
        key             text        NOT NULL CHECK (length(key) BETWEEN 1 AND 256),
        account         bytea       CHECK (account IS NULL OR length(account) = 32),
        source          text        CHECK (source IS NULL OR length(source) <= 64),
        failures        integer     NOT NULL DEFAULT 0 CHECK (failures >= 0),
        trips           integer     NOT NULL DEFAULT 0 CHECK (trips >= 0),
        window_start    timestamptz NOT NULL,
        last_failure_at timestamptz,
        blocked_until   timestamptz,
        expires_at      timestamptz NOT NULL,
        PRIMARY KEY (lane, key)
      ) WITH (fillfactor = 80)`);
    await db.query(
      `CREATE INDEX login_throttle_account_idx ON login_throttle (account) WHERE account IS NOT NULL`,
    );
    // No index on expires_at (or on any column an attempt changes): every charge is then a HOT
    // update in the row's own page (fillfactor leaves it room), with no index entry written. The
    // sweeper scans the table for expired rows instead, once a minute.
    await db.query(
      `CREATE INDEX login_throttle_source_idx ON login_throttle (source, lane) WHERE source IS NOT NULL`,
    );
    await db.query(`
      CREATE TABLE login_accounts (
        account    bytea       PRIMARY KEY CHECK (length(account) = 32),
        user_id    text        NOT NULL CHECK (length(user_id) BETWEEN 1 AND 128),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await db.query(`CREATE INDEX login_accounts_user_idx ON login_accounts (user_id)`);
    await db.query(`
      CREATE TABLE login_devices (
        id           uuid        PRIMARY KEY,
        account      bytea       NOT NULL CHECK (length(account) = 32),
        user_id      text        NOT NULL CHECK (length(user_id) BETWEEN 1 AND 128),
        created_at   timestamptz NOT NULL DEFAULT now(),
        last_used_at timestamptz NOT NULL DEFAULT now(),
        expires_at   timestamptz NOT NULL
      )`);
    await db.query(`CREATE INDEX login_devices_user_idx ON login_devices (user_id)`);
    await db.query(`CREATE INDEX login_devices_expires_idx ON login_devices (expires_at)`);
    await db.query(ADMIT_FUNCTION);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP FUNCTION strikeguard_login_admit`);
    await db.query(`DROP TABLE login_devices`);
    await db.query(`DROP TABLE login_accounts`);
    await db.query(`DROP TABLE login_throttle`);
  }
}

/**
 * Admits or refuses one login attempt. Lanes, in the one order every caller locks them in (lane
 * name, then key — so overlapping attempts never deadlock):
 *
 * - a valid device (its row exists, bound to this account, not expired): `account_device` only;
 * - otherwise `account`, `account_source`, `hard` and `source`.
 *
 * Refused when any lane is blocked now (read without a lock: nothing is locked or written); the
 * wait is the longest block.
 * Admitted: every lane is charged one failure up front, and the blocks that failure would start
 * are set, so a racing attempt already sees them; a success refunds it (see the store).
 *
 * Consecutive lanes (`account_source`, `account_device`) block after the `free`-th failure for
 * `base · 2^(failures − free)`, at most `max_wait`; `hard` blocks for good at `hard_limit`.
 * Windowed lanes count failures in a window from the first one: `account` blocks at its limit
 * until the window ends, and for at least `base · 2^trips` when it trips window after window;
 * `source` blocks at its limit until the window ends.
 */
const ADMIT_FUNCTION = `
  CREATE FUNCTION strikeguard_login_admit(
    p_account bytea, p_source text, p_device uuid,
    p_free integer, p_base interval, p_max_wait interval,
    p_account_limit integer, p_account_window interval,
    p_source_limit integer, p_source_window interval,
    p_hard_limit integer, p_retention interval,
    OUT admitted boolean, OUT trusted boolean, OUT wait_ms bigint, OUT blocking text[],
    OUT user_id text, OUT started text[], OUT started_until timestamptz[],
    OUT account_window timestamptz, OUT source_window timestamptz)
  LANGUAGE plpgsql AS $fn$
  DECLARE
    acct text := encode(p_account, 'hex');
    lanes text[];
    keys text[];
    rows login_throttle[];
    r login_throttle;
    t timestamptz;
    i integer;
    win interval;
    lim integer;
    exp integer;
  BEGIN
    -- Without a device token, no statement for it.
    trusted := false;
    IF p_device IS NOT NULL THEN
      trusted := EXISTS (
        SELECT 1 FROM login_devices d
         WHERE d.id = p_device AND d.account = p_account AND d.expires_at > clock_timestamp());
    END IF;
    IF trusted THEN
      lanes := ARRAY['account_device'];
      keys := ARRAY[acct || '/' || p_device::text];
    ELSE
      lanes := ARRAY['account', 'account_source', 'hard', 'source'];
      keys := ARRAY[acct, acct || '/' || p_source, acct, p_source];
    END IF;

    -- First, without a lock: a lane blocked now refuses at once, before anything is locked,
    -- inserted or written (a blocked source spraying new names adds no rows). The lanes are named
    -- by their primary keys (a trusted attempt's missing ones are NULL and match nothing), so the
    -- statement's cached plan is index lookups whatever the table's size.
    t := clock_timestamp();
    SELECT coalesce(array_agg(l.lane ORDER BY l.lane), ARRAY[]::text[]),
           coalesce(max(CASE WHEN l.blocked_until = 'infinity' THEN 86400000
                        ELSE ceil(extract(epoch FROM l.blocked_until - t) * 1000)::bigint END), 0)
      INTO blocking, wait_ms
      FROM login_throttle l
     WHERE (l.lane, l.key) IN ((lanes[1], keys[1]), (lanes[2], keys[2]),
                               (lanes[3], keys[3]), (lanes[4], keys[4]))
       AND l.blocked_until > t AND l.expires_at > t;
    IF array_length(blocking, 1) > 0 THEN
      admitted := false;
      SELECT a.user_id INTO user_id FROM login_accounts a WHERE a.account = p_account;
      RETURN;
    END IF;

    -- Then each lane locked (or inserted, on first sight) one at a time in the one order (lane,
    -- then key): a lane is only ever inserted or locked while the lanes before it are held, so
    -- overlapping attempts never deadlock. A lane found blocked now (a racing attempt blocked it
    -- since the read above) refuses before the lanes after it are inserted.
    rows := ARRAY[]::login_throttle[];
    FOR i IN 1 .. array_length(lanes, 1) LOOP
      LOOP -- again if a racing insert or the sweeper got between the two statements
        SELECT * INTO r FROM login_throttle l
         WHERE l.lane = lanes[i] AND l.key = keys[i] FOR UPDATE;
        EXIT WHEN FOUND;
        INSERT INTO login_throttle AS l (lane, key, account, source, window_start, expires_at)
        VALUES (lanes[i], keys[i],
                CASE WHEN lanes[i] = 'source' THEN NULL ELSE p_account END,
                CASE WHEN lanes[i] IN ('account_source', 'source') THEN p_source END,
                clock_timestamp(), clock_timestamp() + p_retention)
        ON CONFLICT (lane, key) DO NOTHING
        RETURNING * INTO r;
        EXIT WHEN FOUND;
      END LOOP;
      t := clock_timestamp();
      IF r.blocked_until > t AND r.expires_at > t THEN
        admitted := false;
        blocking := ARRAY[r.lane];
        wait_ms := CASE WHEN r.blocked_until = 'infinity' THEN 86400000
                   ELSE ceil(extract(epoch FROM r.blocked_until - t) * 1000)::bigint END;
        SELECT a.user_id INTO user_id FROM login_accounts a WHERE a.account = p_account;
        RETURN;
      END IF;
      rows := rows || r;
    END LOOP;

    -- Every lane is locked: decide on the clock as it is now.
    t := clock_timestamp();
    admitted := true;
    wait_ms := 0;
    blocking := ARRAY[]::text[];
    FOR i IN 1 .. array_length(rows, 1) LOOP
      r := rows[i];
      IF r.expires_at <= t THEN
        r.failures := 0; r.trips := 0; r.window_start := t; r.blocked_until := NULL;
      ELSIF r.lane IN ('account', 'source') THEN
        win := CASE WHEN r.lane = 'account' THEN p_account_window ELSE p_source_window END;
        IF r.window_start + win <= t THEN
          IF r.blocked_until IS NULL OR r.blocked_until <= t - win THEN r.trips := 0; END IF;
          r.failures := 0; r.window_start := t;
        END IF;
      END IF;
      IF r.blocked_until > t THEN
        admitted := false;
        blocking := blocking || r.lane;
        wait_ms := greatest(wait_ms, CASE WHEN r.blocked_until = 'infinity' THEN 86400000
                   ELSE ceil(extract(epoch FROM r.blocked_until - t) * 1000)::bigint END);
      END IF;
      rows[i] := r;
    END LOOP;

    IF NOT admitted THEN
      -- Who the account is matters to a refusal's event only: not looked up for an admission.
      SELECT a.user_id INTO user_id FROM login_accounts a WHERE a.account = p_account;
      RETURN;
    END IF;

    started := ARRAY[]::text[];
    started_until := ARRAY[]::timestamptz[];
    FOR i IN 1 .. array_length(rows, 1) LOOP
      r := rows[i];
      r.failures := r.failures + 1;
      r.last_failure_at := t;
      r.blocked_until := NULL;
      IF r.lane IN ('account_source', 'account_device') THEN
        IF r.failures >= p_free THEN
          exp := least(r.failures - p_free, 40);
          r.blocked_until := t + least(p_base * (2::numeric ^ exp)::double precision, p_max_wait);
        END IF;
      ELSIF r.lane = 'hard' THEN
        IF r.failures >= p_hard_limit THEN r.blocked_until := 'infinity'; END IF;
      ELSE
        lim := CASE WHEN r.lane = 'account' THEN p_account_limit ELSE p_source_limit END;
        win := CASE WHEN r.lane = 'account' THEN p_account_window ELSE p_source_window END;
        IF r.failures >= lim THEN
          r.blocked_until := r.window_start + win;
          IF r.lane = 'account' THEN
            r.blocked_until := greatest(r.blocked_until,
              t + least(p_base * (2::numeric ^ least(r.trips, 40))::double precision, p_max_wait));
            r.trips := r.trips + 1;
          END IF;
        END IF;
        IF r.lane = 'account' THEN account_window := r.window_start; ELSE source_window := r.window_start; END IF;
      END IF;
      IF r.blocked_until IS NOT NULL THEN
        started := started || r.lane;
        started_until := started_until || r.blocked_until;
      END IF;
      r.expires_at := greatest(coalesce(r.blocked_until, t), t,
        CASE WHEN r.lane = 'account' THEN r.window_start + p_account_window
             WHEN r.lane = 'source' THEN r.window_start + p_source_window
             ELSE t END) + p_retention;
      rows[i] := r;
    END LOOP;
    -- Every lane charged by its primary key (the rows are locked already).
    FOR i IN 1 .. array_length(rows, 1) LOOP
      r := rows[i];
      UPDATE login_throttle l
         SET failures = r.failures, trips = r.trips, window_start = r.window_start,
             last_failure_at = r.last_failure_at, blocked_until = r.blocked_until,
             expires_at = r.expires_at
       WHERE l.lane = r.lane AND l.key = r.key;
    END LOOP;
  END
  $fn$`;
