//! The time series: one row per deployment (and "all") per interval, from the interval's
//! counts and histogram and the pools' state at its end.

use super::{Event, Role, World, GIVE_UP_MIN_OFFERED};
use crate::metrics::{fieldwise_add_assign, Counts, Phase, TimeseriesRow};
use crate::units::{nanos_to_secs, Nanos};
use hdrhistogram::Histogram;

impl World<'_> {
    #[cold]
    pub(super) fn on_tick(&mut self) {
        let start = self.interval_start;
        let end = self.now;
        let seconds = nanos_to_secs(end - start);
        let warmup = start < self.model.warmup;
        let mut all = Counts::default();
        let mut all_state = PoolState::default();
        self.interval_all.reset();
        let mut all_llm: Option<crate::metrics::LlmInterval> = None;
        let mut all_kv = (0.0, 0u64);
        for p in 0..self.pools.len() {
            let pool = &self.pools[p];
            if pool.serving.is_none() && pool.metrics.interval.counts == Counts::default() {
                continue;
            }
            let state = self.pool_state(p as u32);
            let kv = self.pool_kv_usage(p as u32);
            let pool = &mut self.pools[p];
            let interval = &pool.metrics.interval;
            let counts = interval.counts;
            if pool.role != Role::Shadow {
                all += &counts;
                all_state += &state;
                self.interval_all.add(&interval.latency).expect("histograms share bounds");
                if let Some(llm) = interval.llm.as_deref() {
                    all_llm.get_or_insert_with(Default::default).add(llm);
                    if let Some((sum, ready)) = kv {
                        all_kv = (all_kv.0 + sum, all_kv.1 + ready);
                    }
                }
            }
            let mut line = row(start, end, &pool.name, warmup, seconds, counts, &interval.latency, &state);
            if let Some(llm) = interval.llm.as_deref() {
                llm_columns(&mut line, llm, seconds, kv);
            }
            self.timeseries.push(line);
            pool.metrics.interval.reset();
        }
        all_state.breaker = None;
        let mut line = row(start, end, "all", warmup, seconds, all, &self.interval_all, &all_state);
        if let Some(llm) = &all_llm {
            llm_columns(&mut line, llm, seconds, Some(all_kv));
        }
        self.timeseries.push(line);
        self.interval_start = end;
        if let (Some(limit), false) = (self.give_up_loss, warmup) {
            let (offered, lost) =
                self.pools.iter().filter(|p| p.role != Role::Shadow).fold((0, 0), |(offered, lost), p| {
                    let c = p.metrics.counts;
                    (offered + c.offered, lost + c.dropped + c.timed_out + c.failed)
                });
            if offered >= GIVE_UP_MIN_OFFERED && lost as f64 > limit * offered as f64 {
                self.stop(end);
                return;
            }
        }
        if end < self.model.duration {
            self.events.schedule((end + self.model.interval).min(self.model.duration), Event::Tick);
        }
    }

    /// The KV cache in use summed over a pool's ready replicas, and how many are ready (None for
    /// pools without LLM engines).
    fn pool_kv_usage(&self, pool: u32) -> Option<(f64, u64)> {
        let state = &self.pools[pool as usize];
        state.serving.and_then(|s| s.kind.llm())?;
        let ready = (state.first_replica..state.first_replica + state.slots)
            .filter(|&r| self.replicas[r as usize].phase == Phase::Ready);
        Some(ready.fold((0.0, 0), |(sum, n), r| (sum + self.kv_usage(r), n + 1)))
    }

    fn pool_state(&mut self, pool: u32) -> PoolState {
        let now = self.now;
        let state = &mut self.pools[pool as usize];
        let breaker = state.breaker.as_mut().map(|b| b.state(now).level());
        let count = |phase: Phase| u64::from(state.phase_counts[phase as usize]);
        PoolState {
            queued: state.queued,
            busy: state.busy_replicas,
            ready: count(Phase::Ready),
            desired: u64::from(state.desired),
            starting: count(Phase::Provisioning) + count(Phase::ImagePull) + count(Phase::ModelLoad),
            draining: count(Phase::Draining),
            down: count(Phase::Down),
            breaker,
        }
    }
}

/// A deployment's replicas and queue at the end of a time-series interval.
#[derive(Clone, Copy, Debug, Default)]
struct PoolState {
    queued: u64,
    busy: u64,
    ready: u64,
    desired: u64,
    starting: u64,
    draining: u64,
    down: u64,
    breaker: Option<u8>,
}

fieldwise_add_assign!(PoolState { queued, busy, ready, desired, starting, draining, down });

/// An LLM deployment's columns of a time-series row.
fn llm_columns(line: &mut TimeseriesRow, llm: &crate::metrics::LlmInterval, seconds: f64, kv: Option<(f64, u64)>) {
    let p99 = |h: &Histogram<u64>| (!h.is_empty()).then(|| h.value_at_quantile(0.99) as f64 / 1e6);
    line.ttft_p99_ms = p99(&llm.ttft);
    line.tpot_p99_ms = p99(&llm.tpot);
    line.output_tokens_per_s = Some(llm.output_tokens as f64 / seconds);
    line.kv_usage = kv.and_then(|(sum, ready)| (ready > 0).then(|| sum / ready as f64));
}

#[allow(clippy::too_many_arguments)]
fn row(
    start: Nanos,
    end: Nanos,
    region: &str,
    warmup: bool,
    seconds: f64,
    counts: Counts,
    latency: &Histogram<u64>,
    state: &PoolState,
) -> TimeseriesRow {
    let quantile = |q: f64| (!latency.is_empty()).then(|| latency.value_at_quantile(q) as f64 / 1e6);
    TimeseriesRow {
        start_s: nanos_to_secs(start),
        end_s: nanos_to_secs(end),
        region: region.to_string(),
        warmup,
        offered_rps: counts.offered as f64 / seconds,
        completed_rps: counts.completed as f64 / seconds,
        dropped: counts.dropped,
        timed_out: counts.timed_out,
        p50_ms: quantile(0.5),
        p99_ms: quantile(0.99),
        queue_depth: state.queued,
        busy_replicas: state.busy,
        ready_replicas: state.ready,
        desired_replicas: state.desired,
        starting_replicas: state.starting,
        draining_replicas: state.draining,
        down_replicas: state.down,
        degraded: counts.degraded,
        failed: counts.failed,
        retries: counts.retries,
        failover: counts.failover,
        breaker: state.breaker,
        ttft_p99_ms: None,
        tpot_p99_ms: None,
        output_tokens_per_s: None,
        kv_usage: None,
    }
}
