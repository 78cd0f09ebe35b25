import { Counter, Gauge, Histogram, register } from 'prom-client';

/**
 * Prometheus metrics of the library, in prom-client's default registry (the host exposes it).
 * Created once per process, so several module instances (tests) share them.
 */
function counter(name: string, help: string, labelNames: string[] = []): Counter {
  return (
    (register.getSingleMetric(name) as Counter | undefined) ??
    new Counter({ name, help, labelNames })
  );
}

function gauge(name: string, help: string, labelNames: string[] = []): Gauge {
  return (
    (register.getSingleMetric(name) as Gauge | undefined) ?? new Gauge({ name, help, labelNames })
  );
}

function histogram(name: string, help: string, buckets: number[]): Histogram {
  return (
    (register.getSingleMetric(name) as Histogram | undefined) ??
    new Histogram({ name, help, buckets })
  );
}

export const metrics = {
  auditAppends: counter(
    'strikeguard_audit_appends_total',
    'Audit records committed and written to the log file',
  ),
  auditAppendSeconds: histogram(
    'strikeguard_audit_append_duration_seconds',
    'Time from record() to its acknowledgement (committed and in the log file)',
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  ),
  auditAppendFailures: counter(
    'strikeguard_audit_append_failures_total',
    'Audit appends that failed (not acknowledged)',
  ),
  verifications: counter(
    'strikeguard_audit_verifications_total',
    'Audit chain verifications by result',
    ['result'],
  ),
  verifyLogBytes: counter(
    'strikeguard_audit_verify_log_bytes_total',
    'Bytes of log files read by verifications',
  ),
  verifyLogLines: counter(
    'strikeguard_audit_verify_log_lines_total',
    'Lines of log files read by verifications (streamed, or looked at while seeking)',
  ),
  verificationsRefused: counter(
    'strikeguard_audit_verifications_refused_total',
    'Verifications refused (429) because another heavy one was running on the instance',
  ),
  strikes: counter('strikeguard_strikes_total', 'Violations recorded (strike.recorded events)'),
  strikeWeight: counter(
    'strikeguard_strike_weight_total',
    'Sum of the weights of recorded violations',
  ),
  terminations: counter('strikeguard_sessions_terminated_total', 'Session terminations by strikes'),
  blocks: counter('strikeguard_accounts_blocked_total', 'Accounts blocked'),
  unblocks: counter('strikeguard_accounts_unblocked_total', 'Accounts unblocked by an admin'),
  blockExpiries: counter(
    'strikeguard_block_expiries_total',
    'Timed blocks that ended by themselves (account.unblocked by the system)',
  ),
  simulated: counter(
    'strikeguard_simulated_total',
    'Monitor-mode crossings recorded and not enforced, by kind (termination, block)',
    ['kind'],
  ),
  unmappablePrincipals: counter(
    'strikeguard_unmappable_principals_total',
    'Authenticated requests whose user could not be mapped, by policy (refuse or anonymous)',
    ['policy'],
  ),
  accessDenied: counter(
    'strikeguard_access_denied_total',
    'Requests refused for a blocked account or a terminated session',
    ['reason'],
  ),
  overloaded: counter(
    'strikeguard_overloaded_total',
    'Work refused with 503 overloaded because a bounded queue was full, by queue (violations, audit)',
    ['queue'],
  ),
  accessDeniedUnrecorded: counter(
    'strikeguard_access_denied_unrecorded_total',
    'Refusals whose coalesced access.denied count could not be recorded (audit trail unavailable too long)',
  ),
  loginAttempts: counter(
    'strikeguard_login_attempts_total',
    'Login attempts by admission result (admitted, throttled)',
    ['result'],
  ),
  loginThrottled: counter(
    'strikeguard_login_throttled_total',
    'Throttled login attempts, by lane that blocked them (an attempt counts in each blocking lane)',
    ['lane'],
  ),
  loginOutcomes: counter(
    'strikeguard_login_outcomes_total',
    'Admitted login attempts by how they were settled (failure, success)',
    ['outcome'],
  ),
  loginLockouts: counter(
    'strikeguard_login_lockouts_total',
    'Lockouts started by a failed login, by lane',
    ['lane'],
  ),
  loginLockoutsCleared: counter(
    'strikeguard_login_lockouts_cleared_total',
    'Lockouts cleared before they ended, by whom (admin, device login)',
    ['by'],
  ),
  loginDevicesTrusted: counter(
    'strikeguard_login_devices_trusted_total',
    'Devices newly trusted by a successful login',
  ),
  loginThrottledUnrecorded: counter(
    'strikeguard_login_throttled_unrecorded_total',
    'Throttled attempts whose coalesced auth.login_throttled count could not be recorded',
  ),
  alertsDelivered: counter(
    'strikeguard_alerts_delivered_total',
    'Alerts a webhook receiver acknowledged with a 2xx, by destination',
    ['destination'],
  ),
  alertsFailures: counter(
    'strikeguard_alerts_failures_total',
    'Failed alert deliveries (each is retried), by destination and kind (status, timeout, connection)',
    ['destination', 'kind'],
  ),
  alertsLag: gauge(
    'strikeguard_alerts_lag',
    'Alerts recorded and not yet acknowledged by the receiver, by destination (counted up to 10,000 per type)',
    ['destination'],
  ),
  transparencyTreeSize: gauge(
    'strikeguard_transparency_tree_size',
    "Records in the Merkle tree after this instance's last integration pass",
  ),
  transparencyChainSize: gauge(
    'strikeguard_transparency_chain_size',
    'Records in the audit chain when this instance last integrated (tree lag = chain − tree)',
  ),
  transparencyCheckpointSize: gauge(
    'strikeguard_transparency_checkpoint_size',
    'Tree size of the latest signed checkpoint this instance has seen',
  ),
  transparencyCheckpointTimestamp: gauge(
    'strikeguard_transparency_checkpoint_timestamp_seconds',
    'When the latest signed checkpoint this instance has seen was signed (Unix seconds)',
  ),
  transparencySigningRefused: gauge(
    'strikeguard_transparency_signing_refused',
    '1 while the signer refuses to sign (fork guard: the tree does not extend the published checkpoint), else 0',
  ),
  transparencyErrors: counter(
    'strikeguard_transparency_errors_total',
    'Integration or signing passes that failed, by stage (integrate, sign)',
    ['stage'],
  ),
  witnessCosignedSize: gauge(
    'strikeguard_transparency_witness_cosigned_size',
    'Tree size of the latest checkpoint a witness cosigned, by witness',
    ['witness'],
  ),
  witnessFailures: counter(
    'strikeguard_transparency_witness_failures_total',
    'Checkpoint submissions a witness did not cosign, by witness',
    ['witness'],
  ),
  loginRowsSwept: counter(
    'strikeguard_login_rows_swept_total',
    'Expired login-throttle and device rows deleted by the sweeper',
  ),
};
