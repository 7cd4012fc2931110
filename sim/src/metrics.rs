//! What a run measures, per region: counters, HDR histograms and the rolling interval that becomes a
//! row of the time series. Histograms have fixed bounds, so recording never allocates; interval
//! histograms are reset, not rebuilt, so memory stays flat however long the run.

use crate::units::Nanos;
use hdrhistogram::Histogram;

/// Latencies up to a simulated day are recorded exactly (3 significant digits); longer ones saturate.
const HISTOGRAM_MAX: u64 = 86_400_000_000_000;

pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HISTOGRAM_MAX, 3).expect("static histogram bounds are valid")
}

/// For time-series rows: 2 significant digits (1% resolution is plenty for a chart) keep the
/// histogram 8× smaller, because it is reset at every interval of every region — with 3 digits a
/// 1 s interval over a simulated day in ten regions would clear hundreds of gigabytes.
pub fn new_interval_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HISTOGRAM_MAX, 2).expect("static histogram bounds are valid")
}

/// Counts of what happened to requests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub offered: u64,
    /// Answered by the model.
    pub completed: u64,
    /// Answered by a fallback.
    pub degraded: u64,
    /// Ended in an error: a crashed replica or region, a failed dependency without fallback.
    pub failed: u64,
    /// Refused by a full queue.
    pub dropped: u64,
    pub timed_out: u64,
    /// Attempts beyond each request's first.
    pub retries: u64,
    /// Requests the global router sent away from the region its policy chose, because it saw that
    /// region down.
    pub failover: u64,
    /// Still inside the system when the drain after traffic reached its limit (see
    /// `summary::drain_limit`): neither answered nor failed.
    pub unfinished: u64,
}

/// `a += &b` as the field-wise sum of the listed fields: counters that add up over deployments.
macro_rules! fieldwise_add_assign {
    ($type:ty { $($field:ident),* $(,)? }) => {
        impl std::ops::AddAssign<&$type> for $type {
            fn add_assign(&mut self, other: &$type) {
                $(self.$field += other.$field;)*
            }
        }
    };
}
pub(crate) use fieldwise_add_assign;

fieldwise_add_assign!(Counts {
    offered,
    completed,
    degraded,
    failed,
    dropped,
    timed_out,
    retries,
    failover,
    unfinished
});

impl Counts {
    /// Requests with an answer, from the model or a fallback.
    pub fn answered(&self) -> u64 {
        self.completed + self.degraded
    }
}

pub struct RegionMetrics {
    /// Requests sent at or after warm-up.
    pub counts: Counts,
    /// Every answered request's latency, degraded answers included.
    pub latency: Histogram<u64>,
    pub queue_wait: Histogram<u64>,
    pub service_time: Histogram<u64>,
    /// Exact sums in ns, beside the histograms, for means that theory tests compare to.
    pub latency_sum: f64,
    pub queue_wait_sum: f64,
    pub service_time_sum: f64,
    /// Model answers given inside the measured window, whenever their request was sent: the
    /// throughput the system delivered, which answers drained after traffic stopped do not inflate.
    pub completed_in_window: u64,
    /// `batch_sizes[b]`: batches of size b started after warm-up.
    pub batch_sizes: Vec<u64>,
    /// Instance-nanoseconds spent running batches inside the measured window.
    pub busy_nanos: f64,
    /// Replica-nanoseconds by [`Phase`] inside the measured window, and over the whole run up to
    /// `duration` (what the cost is computed from).
    pub replica_nanos: [f64; PHASES],
    pub replica_nanos_run: [f64; PHASES],
    /// Most replicas alive (in any phase but off) at once.
    pub peak_replicas: u64,
    /// Times the circuit breaker opened, and nanoseconds it spent open, in the measured window.
    pub breaker_opened: u64,
    pub breaker_open_nanos: f64,
    /// Response-cache lookups that hit and missed, by requests sent after warm-up.
    pub cache_hits: u64,
    pub cache_misses: u64,
    /// An LLM engine's figures (None for other kinds).
    pub llm: Option<Box<LlmMetrics>>,
    /// Answers' time by stage (`RunOptions::breakdown`; made at the first answer).
    pub breakdown: Option<Box<crate::breakdown::BreakdownMetrics>>,
    pub interval: IntervalMetrics,
}

/// What an LLM engine measured: per request (sent after warm-up) its time to first token and
/// time per output token; per token the gap since the last; per iteration its tokens.
#[derive(Clone, Debug)]
pub struct LlmMetrics {
    pub ttft: Histogram<u64>,
    pub tpot: Histogram<u64>,
    pub inter_token: Histogram<u64>,
    pub ttft_sum: f64,
    pub tpot_sum: f64,
    pub inter_token_sum: f64,
    /// Completions' prompt and output tokens.
    pub prompt_tokens: u64,
    pub output_tokens: u64,
    /// Completions within every TTFT and TPOT target (goodput).
    pub good: u64,
    pub iterations: u64,
    pub prefill_tokens: u64,
    pub decode_tokens: u64,
    pub preemptions: u64,
    /// Tokens computed before a preemption threw them away.
    pub recomputed_tokens: u64,
    /// Prompt tokens looked up in the prefix cache (requests' first scheduling), and found.
    pub prefix_lookup_tokens: u64,
    pub prefix_hit_tokens: u64,
    /// ∫ KV-cache tokens in use dt over iterations, in the measured window.
    pub kv_token_nanos: f64,
    /// KV blocks per replica (for the summary's capacity in tokens).
    pub kv_tokens_per_replica: u64,
}

impl LlmMetrics {
    pub fn new(kv_tokens_per_replica: u64) -> Self {
        LlmMetrics {
            ttft: new_histogram(),
            tpot: new_histogram(),
            inter_token: new_histogram(),
            ttft_sum: 0.0,
            tpot_sum: 0.0,
            inter_token_sum: 0.0,
            prompt_tokens: 0,
            output_tokens: 0,
            good: 0,
            iterations: 0,
            prefill_tokens: 0,
            decode_tokens: 0,
            preemptions: 0,
            recomputed_tokens: 0,
            prefix_lookup_tokens: 0,
            prefix_hit_tokens: 0,
            kv_token_nanos: 0.0,
            kv_tokens_per_replica,
        }
    }

    pub fn merge(&mut self, other: &LlmMetrics) {
        self.ttft.add(&other.ttft).expect("histograms share bounds");
        self.tpot.add(&other.tpot).expect("histograms share bounds");
        self.inter_token.add(&other.inter_token).expect("histograms share bounds");
        self.ttft_sum += other.ttft_sum;
        self.tpot_sum += other.tpot_sum;
        self.inter_token_sum += other.inter_token_sum;
        self.prompt_tokens += other.prompt_tokens;
        self.output_tokens += other.output_tokens;
        self.good += other.good;
        self.iterations += other.iterations;
        self.prefill_tokens += other.prefill_tokens;
        self.decode_tokens += other.decode_tokens;
        self.preemptions += other.preemptions;
        self.recomputed_tokens += other.recomputed_tokens;
        self.prefix_lookup_tokens += other.prefix_lookup_tokens;
        self.prefix_hit_tokens += other.prefix_hit_tokens;
        self.kv_token_nanos += other.kv_token_nanos;
        self.kv_tokens_per_replica = self.kv_tokens_per_replica.max(other.kv_tokens_per_replica);
    }
}

/// Where a replica is in its life. Off slots cost nothing; every other phase is paid for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Off = 0,
    Provisioning = 1,
    ImagePull = 2,
    ModelLoad = 3,
    Ready = 4,
    Draining = 5,
    /// Crashed, or in a region that is out: not serving, awaiting restart.
    Down = 6,
}

pub const PHASES: usize = 7;

impl Phase {
    pub fn is_starting(self) -> bool {
        matches!(self, Phase::Provisioning | Phase::ImagePull | Phase::ModelLoad)
    }
}

/// The current time-series row, counting every request (warm-up included).
pub struct IntervalMetrics {
    pub counts: Counts,
    pub latency: Histogram<u64>,
    /// An LLM engine's: TTFT and TPOT of the interval's completions, output tokens produced.
    pub llm: Option<Box<LlmInterval>>,
}

pub struct LlmInterval {
    pub ttft: Histogram<u64>,
    pub tpot: Histogram<u64>,
    pub output_tokens: u64,
}

impl LlmInterval {
    pub fn new() -> Self {
        LlmInterval { ttft: new_interval_histogram(), tpot: new_interval_histogram(), output_tokens: 0 }
    }
    pub fn reset(&mut self) {
        self.ttft.reset();
        self.tpot.reset();
        self.output_tokens = 0;
    }
    pub fn add(&mut self, other: &LlmInterval) {
        self.ttft.add(&other.ttft).expect("histograms share bounds");
        self.tpot.add(&other.tpot).expect("histograms share bounds");
        self.output_tokens += other.output_tokens;
    }
}

impl Default for LlmInterval {
    fn default() -> Self {
        Self::new()
    }
}

impl IntervalMetrics {
    pub fn new() -> Self {
        IntervalMetrics { counts: Counts::default(), latency: new_interval_histogram(), llm: None }
    }
    pub fn reset(&mut self) {
        self.counts = Counts::default();
        self.latency.reset();
        if let Some(llm) = self.llm.as_mut() {
            llm.reset();
        }
    }
}

impl Default for IntervalMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl RegionMetrics {
    pub fn new(max_batch: u32) -> Self {
        RegionMetrics {
            counts: Counts::default(),
            latency: new_histogram(),
            queue_wait: new_histogram(),
            service_time: new_histogram(),
            latency_sum: 0.0,
            queue_wait_sum: 0.0,
            service_time_sum: 0.0,
            completed_in_window: 0,
            batch_sizes: vec![0; max_batch as usize + 1],
            busy_nanos: 0.0,
            replica_nanos: [0.0; PHASES],
            replica_nanos_run: [0.0; PHASES],
            peak_replicas: 0,
            breaker_opened: 0,
            breaker_open_nanos: 0.0,
            cache_hits: 0,
            cache_misses: 0,
            llm: None,
            breakdown: None,
            interval: IntervalMetrics::new(),
        }
    }

    /// Adds another region's measured statistics (not its current interval) to these.
    pub fn merge(&mut self, other: &RegionMetrics) {
        self.counts += &other.counts;
        self.latency.add(&other.latency).expect("histograms share bounds");
        self.queue_wait.add(&other.queue_wait).expect("histograms share bounds");
        self.service_time.add(&other.service_time).expect("histograms share bounds");
        self.latency_sum += other.latency_sum;
        self.queue_wait_sum += other.queue_wait_sum;
        self.service_time_sum += other.service_time_sum;
        self.completed_in_window += other.completed_in_window;
        if self.batch_sizes.len() < other.batch_sizes.len() {
            self.batch_sizes.resize(other.batch_sizes.len(), 0);
        }
        for (size, &n) in other.batch_sizes.iter().enumerate() {
            self.batch_sizes[size] += n;
        }
        self.busy_nanos += other.busy_nanos;
        for phase in 0..PHASES {
            self.replica_nanos[phase] += other.replica_nanos[phase];
            self.replica_nanos_run[phase] += other.replica_nanos_run[phase];
        }
        // Peaks of different regions need not coincide; their sum bounds the joint peak.
        self.peak_replicas += other.peak_replicas;
        self.breaker_opened += other.breaker_opened;
        self.breaker_open_nanos += other.breaker_open_nanos;
        self.cache_hits += other.cache_hits;
        self.cache_misses += other.cache_misses;
        if let Some(other) = &other.llm {
            match &mut self.llm {
                Some(mine) => mine.merge(other),
                None => self.llm = Some(other.clone()),
            }
        }
        if let Some(other) = &other.breakdown {
            match &mut self.breakdown {
                Some(mine) => mine.merge(other),
                None => self.breakdown = Some(other.clone()),
            }
        }
    }

    /// An answer from a fallback: counted and timed, but not a model completion.
    #[inline]
    pub fn record_degraded(&mut self, latency: Nanos) {
        self.counts.degraded += 1;
        self.latency.saturating_record(latency);
        self.latency_sum += latency as f64;
    }

    /// An answer from the response cache: a completion that neither queued nor ran.
    #[cold]
    pub fn record_cached(&mut self, latency: Nanos) {
        self.counts.completed += 1;
        self.latency.saturating_record(latency);
        self.latency_sum += latency as f64;
    }

    #[inline(always)]
    pub fn record_completion(&mut self, latency: Nanos, queue_wait: Nanos, service_time: Nanos) {
        self.counts.completed += 1;
        self.latency.saturating_record(latency);
        self.queue_wait.saturating_record(queue_wait);
        self.service_time.saturating_record(service_time);
        self.latency_sum += latency as f64;
        self.queue_wait_sum += queue_wait as f64;
        self.service_time_sum += service_time as f64;
    }
}

/// One row of `timeseries.csv`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TimeseriesRow {
    pub start_s: f64,
    pub end_s: f64,
    /// `"all"` or a region name.
    pub region: String,
    pub warmup: bool,
    pub offered_rps: f64,
    pub completed_rps: f64,
    pub dropped: u64,
    pub timed_out: u64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// Requests waiting for a batch at the end of the interval.
    pub queue_depth: u64,
    /// Replicas running at least one batch at the end of the interval.
    pub busy_replicas: u64,
    pub ready_replicas: u64,
    /// The autoscaler's replica count (the configured count without autoscaling).
    pub desired_replicas: u64,
    /// Replicas provisioning, pulling the image or loading the model.
    pub starting_replicas: u64,
    pub draining_replicas: u64,
    pub down_replicas: u64,
    pub degraded: u64,
    pub failed: u64,
    pub retries: u64,
    pub failover: u64,
    /// Circuit breaker at the end of the interval: 0 closed, 1 half-open, 2 open (empty without one).
    pub breaker: Option<u8>,
    /// LLM engines (empty otherwise): p99 time to first token and per output token of the
    /// interval's completions, output tokens per second, KV cache in use at the interval's end
    /// (mean over ready replicas).
    #[serde(default)]
    pub ttft_p99_ms: Option<f64>,
    #[serde(default)]
    pub tpot_p99_ms: Option<f64>,
    #[serde(default)]
    pub output_tokens_per_s: Option<f64>,
    #[serde(default)]
    pub kv_usage: Option<f64>,
}
