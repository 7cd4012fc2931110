//! A request in flight, what became of it, and the one place its per-stage times are written.

use super::{World, NONE};
use crate::units::Nanos;

/// Which processing stage a request at a replica is in (pre- or post-processing share the CPU
/// workers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Stage {
    Pre,
    Post,
}

/// The moments of an attempt's life, in the order a served request passes them. Every handler
/// writes them through [`World::stamp`], so a latency breakdown or a request trace reads them
/// from one array instead of from every handler. An attempt overwrites the previous attempt's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Stamp {
    /// The client put this attempt on the wire (the first attempt's is the request's `sent`).
    AttemptSent,
    /// The regional frontend received it.
    ReachedRegion,
    /// The model call began (after the feature-store lookup): the circuit breaker times calls from here.
    CallStarted,
    /// A replica took it: it waits for a CPU worker, when pre-processing runs on them.
    EnteredReplica,
    /// Pre-processing began.
    PreStarted,
    /// Pre-processing done: in the replica kind's queue.
    Enqueued,
    /// Its batch started on a model instance (an LLM engine: its first iteration).
    BatchStarted,
    /// Its first output token was produced (LLM engines; 0 for kinds that answer whole).
    FirstOutput,
    /// Its batch ended: it waits for a CPU worker, when post-processing runs on them.
    ServiceDone,
    /// Post-processing began.
    PostStarted,
    /// Post-processing done: the answer leaves the replica.
    Departed,
    /// The response cache answered (hit or miss); without a cache, when the request reached the
    /// feature-store step (its region's arrival).
    CacheDone,
    /// A model instance was free for it: from here until its batch starts, the batcher waited for
    /// the batch to fill (`max_queue_delay`); before, it queued behind busy instances.
    BatchReady,
    /// The call failed and the fallback began answering.
    FallbackStarted,
    /// The fallback answered.
    FallbackDone,
}

pub(super) const STAMPS: usize = Stamp::FallbackDone as usize + 1;

#[derive(Clone, Copy, Debug)]
pub(super) struct Request {
    pub serial: u64,
    /// When the client sent the first attempt: latency is measured from here.
    pub sent: Nanos,
    pub deadline: Nanos,
    pub stamps: [Nanos; STAMPS],
    pub batch: u64,
    pub origin: u32,
    /// The endpoint's clients in `origin` (endpoint × regions + origin): routers, retry budgets;
    /// `client − origin + region` is the endpoint's site in `region`. Then the site that has the
    /// attempt.
    pub client: u32,
    pub region: u32,
    pub site: u32,
    pub pool: u32,
    /// NONE unless a replica holds the request.
    pub replica: u32,
    /// The replica that last took the request (kept after it lets go), for records.
    pub served_by: u32,
    /// The site whose `assigned` count includes this request, or NONE.
    pub assigned_to: u32,
    /// The replica's generation when it took the request: a crash since makes events stale.
    pub generation: u32,
    /// Its size (an LLM's prompt tokens; 0 when the traffic gives none).
    pub size: u32,
    /// Output tokens it asks for (LLM traffic; 0 otherwise).
    pub output_tokens: u32,
    /// Output tokens an LLM engine has produced for it (kept across a preemption).
    pub generated: u32,
    /// The source that sent it, and its trace row or shared-prefix group (NONE): where an LLM
    /// engine's prefix cache finds its prompt's block hashes.
    pub source: u32,
    pub prefix: u32,
    /// Tokens whose KV cache it brings to an LLM engine (handed over by a prefill replica).
    pub kv_tokens: u32,
    pub batch_size: u32,
    pub attempt: u32,
    pub stage: Stage,
    pub shadow: bool,
    /// A pipeline stage's call to an endpoint (`pipeline.rs`), not a client's request.
    pub call: bool,
    pub degraded: bool,
    pub breaker_admitted: bool,
    /// Why the last attempt failed.
    pub error: Outcome,
    /// Half the round trip between the client's region and the serving region.
    pub one_way: Nanos,
    /// Time spent waiting to retry (backoff), over all attempts.
    pub retry_wait: Nanos,
}

impl Request {
    /// A new request from `origin`, sent at `now`, before routing (`send_attempt` stamps it).
    pub fn new(serial: u64, origin: u32, size: u32, output_tokens: u32, now: Nanos) -> Request {
        Request {
            serial,
            sent: now,
            deadline: Nanos::MAX,
            stamps: [0; STAMPS],
            batch: u64::MAX,
            origin,
            client: origin,
            region: NONE,
            site: NONE,
            pool: NONE,
            replica: NONE,
            served_by: NONE,
            assigned_to: NONE,
            generation: 0,
            size,
            output_tokens,
            generated: 0,
            source: NONE,
            prefix: NONE,
            kv_tokens: 0,
            batch_size: 0,
            attempt: 1,
            stage: Stage::Pre,
            shadow: false,
            call: false,
            degraded: false,
            breaker_admitted: false,
            error: Outcome::Failed,
            one_way: 0,
            retry_wait: 0,
        }
    }

    #[inline]
    pub fn at(&self, stamp: Stamp) -> Nanos {
        self.stamps[stamp as usize]
    }

    /// Time in the replica's queue until its batch started.
    #[inline]
    pub fn queue_wait(&self) -> Nanos {
        self.at(Stamp::BatchStarted) - self.at(Stamp::Enqueued)
    }

    /// An answered LLM request's time to first token as the client sees the stream begin (the first
    /// token's time plus the way back), and its time per output token after the first.
    pub fn token_times(&self) -> (Nanos, Option<Nanos>) {
        let first = self.at(Stamp::FirstOutput);
        let ttft = (first + self.one_way).saturating_sub(self.sent);
        let tpot = (self.generated > 1).then(|| (self.at(Stamp::ServiceDone) - first) / u64::from(self.generated - 1));
        (ttft, tpot)
    }

    /// Time its batch ran.
    #[inline]
    pub fn service(&self) -> Nanos {
        self.at(Stamp::ServiceDone) - self.at(Stamp::BatchStarted)
    }
}

impl World<'_> {
    /// Notes that request `id` passes `stamp` now.
    #[inline]
    pub(super) fn stamp(&mut self, id: u32, stamp: Stamp) {
        self.requests[id as usize].stamps[stamp as usize] = self.now;
    }
}

/// When the last attempt of a request passed each stage (0 for a stage it never reached): the
/// latency breakdown of one request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stages {
    pub attempt_sent: Nanos,
    pub reached_region: Nanos,
    pub call_started: Nanos,
    pub entered_replica: Nanos,
    pub pre_started: Nanos,
    pub enqueued: Nanos,
    pub batch_started: Nanos,
    /// The first output token (LLM engines; 0 otherwise).
    pub first_output: Nanos,
    pub service_done: Nanos,
    pub post_started: Nanos,
    pub departed: Nanos,
    pub cache_done: Nanos,
    pub batch_ready: Nanos,
    pub fallback_started: Nanos,
    pub fallback_done: Nanos,
    /// Backoff waited before retries, over all attempts (the stamps are the last attempt's).
    pub retry_wait: Nanos,
    /// Half the round trip to the region that answered: the answer's way back.
    pub one_way: Nanos,
}

impl Request {
    pub fn stages(&self) -> Stages {
        Stages {
            attempt_sent: self.at(Stamp::AttemptSent),
            reached_region: self.at(Stamp::ReachedRegion),
            call_started: self.at(Stamp::CallStarted),
            entered_replica: self.at(Stamp::EnteredReplica),
            pre_started: self.at(Stamp::PreStarted),
            enqueued: self.at(Stamp::Enqueued),
            batch_started: self.at(Stamp::BatchStarted),
            first_output: self.at(Stamp::FirstOutput),
            service_done: self.at(Stamp::ServiceDone),
            post_started: self.at(Stamp::PostStarted),
            departed: self.at(Stamp::Departed),
            cache_done: self.at(Stamp::CacheDone),
            batch_ready: self.at(Stamp::BatchReady),
            fallback_started: self.at(Stamp::FallbackStarted),
            fallback_done: self.at(Stamp::FallbackDone),
            retry_wait: self.retry_wait,
            one_way: self.one_way,
        }
    }
}

/// What happened to one request; kept only when [`super::RunOptions::record_requests`] is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestRecord {
    /// Order of arrival, from 0.
    pub serial: u64,
    pub sent: Nanos,
    /// Request size from the trace (0 for synthetic traffic).
    pub size: u32,
    /// Output tokens asked for (LLM traffic; 0 otherwise).
    pub output_tokens: u32,
    pub region: u32,
    /// Slot within the deployment (u32::MAX if no replica took it).
    pub replica: u32,
    /// Batch number within the run, from 0 (u64::MAX if it never ran).
    pub batch: u64,
    pub batch_size: u32,
    pub batch_start: Nanos,
    /// When the client had its answer or gave up (the time of the drop or discard otherwise).
    pub finished: Nanos,
    pub attempts: u32,
    pub outcome: Outcome,
    pub stages: Stages,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Completed,
    /// Answered by the fallback.
    Degraded,
    Failed,
    Dropped,
    TimedOut,
    /// Still in the system when the run's drain limit cut it off.
    Unfinished,
}

/// The stamps an attempt passes, in order, each with the stage that ends at it.
const CHAIN: [(Stamp, crate::breakdown::Stage); 14] = {
    use crate::breakdown::Stage;
    [
        (Stamp::ReachedRegion, Stage::Network),
        (Stamp::CacheDone, Stage::Cache),
        (Stamp::CallStarted, Stage::FeatureStore),
        (Stamp::EnteredReplica, Stage::Activator),
        (Stamp::PreStarted, Stage::PreWorkerWait),
        (Stamp::Enqueued, Stage::PreProcessing),
        (Stamp::BatchReady, Stage::Queue),
        (Stamp::BatchStarted, Stage::BatchFormation),
        (Stamp::FirstOutput, Stage::Prefill),
        (Stamp::ServiceDone, Stage::Service),
        (Stamp::PostStarted, Stage::PostWorkerWait),
        (Stamp::Departed, Stage::PostProcessing),
        (Stamp::FallbackStarted, Stage::FailedCall),
        (Stamp::FallbackDone, Stage::Fallback),
    ]
};

/// An answered request's end-to-end time split into [`crate::breakdown::STAGE_NAMES`]'s stages,
/// each given to `span` as the interval it took (nothing for a stage that took no time); the
/// intervals tile `[sent, finished]` exactly, the network's two legs apart.
///
/// The last attempt's stamps are read in the order a request passes them; a stage ends at its
/// stamp and began at the latest stamp before it. A stamp this attempt did not reach is either 0
/// or an earlier attempt's — before this attempt's `AttemptSent` — so it adds nothing: a cache hit
/// has no queue, a fallback's answer no service. What comes after the last stamp and before the
/// way back is a pipeline's stages (0 for a model endpoint). Earlier attempts are one interval:
/// the backoff is put first, the failed attempts' own time after it.
#[inline]
pub(crate) fn split(
    at: impl Fn(Stamp) -> Nanos,
    (sent, retry_wait, one_way, finished): (Nanos, Nanos, Nanos, Nanos),
    mut span: impl FnMut(crate::breakdown::Stage, Nanos, Nanos),
) {
    use crate::breakdown::Stage;
    let start = at(Stamp::AttemptSent).max(sent);
    let backoff_end = sent + retry_wait.min(start - sent);
    if backoff_end > sent {
        span(Stage::RetryBackoff, sent, backoff_end);
    }
    if start > backoff_end {
        span(Stage::FailedAttempts, backoff_end, start);
    }
    let mut reached = start;
    for (stamp, stage) in CHAIN {
        let stamp = at(stamp).min(finished);
        if stamp > reached {
            span(stage, reached, stamp);
            reached = stamp;
        }
    }
    let way_back_from = finished.saturating_sub(one_way).max(reached);
    if way_back_from > reached {
        span(Stage::Pipeline, reached, way_back_from);
    }
    if finished > way_back_from {
        span(Stage::Network, way_back_from, finished);
    }
}

impl Stages {
    /// An answered request's latency by stage (see `split`): the stages sum to `finished − sent`.
    pub fn breakdown(&self, sent: Nanos, finished: Nanos) -> [Nanos; crate::breakdown::STAGES] {
        let mut times = [0; crate::breakdown::STAGES];
        split(
            |stamp| self.at(stamp),
            (sent, self.retry_wait, self.one_way, finished),
            |stage, from, to| times[stage as usize] += to - from,
        );
        times
    }

    /// The same split as intervals `(stage, from, to)` in time order: a request trace's spans.
    pub fn spans(&self, sent: Nanos, finished: Nanos) -> Vec<(crate::breakdown::Stage, Nanos, Nanos)> {
        let mut spans = Vec::new();
        split(
            |stamp| self.at(stamp),
            (sent, self.retry_wait, self.one_way, finished),
            |stage, from, to| spans.push((stage, from, to)),
        );
        spans
    }

    fn at(&self, stamp: Stamp) -> Nanos {
        match stamp {
            Stamp::AttemptSent => self.attempt_sent,
            Stamp::ReachedRegion => self.reached_region,
            Stamp::CallStarted => self.call_started,
            Stamp::EnteredReplica => self.entered_replica,
            Stamp::PreStarted => self.pre_started,
            Stamp::Enqueued => self.enqueued,
            Stamp::BatchStarted => self.batch_started,
            Stamp::FirstOutput => self.first_output,
            Stamp::ServiceDone => self.service_done,
            Stamp::PostStarted => self.post_started,
            Stamp::Departed => self.departed,
            Stamp::CacheDone => self.cache_done,
            Stamp::BatchReady => self.batch_ready,
            Stamp::FallbackStarted => self.fallback_started,
            Stamp::FallbackDone => self.fallback_done,
        }
    }
}

impl Request {
    /// This answer's latency by stage, into a deployment's breakdown.
    #[inline]
    pub(super) fn record_breakdown(&self, finished: Nanos, into: &mut crate::breakdown::BreakdownMetrics) {
        let mut times = [0; crate::breakdown::STAGES];
        split(
            |stamp| self.at(stamp),
            (self.sent, self.retry_wait, self.one_way, finished),
            |stage, from, to| times[stage as usize] += to - from,
        );
        into.record(&times, finished - self.sent);
    }
}
