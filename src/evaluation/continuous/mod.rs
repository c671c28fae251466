//! Continuous-authentication replays: each user enrols with one modality, then test sessions
//! stream through an [`Engine`] event by event, and the replay counts
//! actions until lock-out and the verdicts of decisions taken at random moments.
//!
//! The driver here is shared by the dataset protocols in [`balabit`] and [`aalto`]. Each
//! [`Group`] gets its own engine on its own [`ManualClock`], which follows the event
//! timestamps, so evidence age and idle decay run on data time. Groups run in parallel.
//!
//! Figures, with the conventions of Mondal and Bours' continuous-authentication reports:
//!
//! - ANIA, average number of impostor actions: the mean, over impostor sessions that were
//!   locked out, of the actions the session had when trust first fell below the lock-out
//!   threshold. Impostor sessions never locked out are counted in `impostors_never_detected`
//!   instead.
//! - ANGA, average number of genuine actions: the mean, over all genuine sessions, of the
//!   actions before the first (false) lock-out. A session never locked out counts with all
//!   its actions.
//! - Challenges: `decide` is called after a few events of each session, chosen uniformly at
//!   random with a fixed seed. FAR is the fraction of impostor challenges answered `Allow`,
//!   FRR the fraction of genuine challenges not answered `Allow`, split into `StepUp` and
//!   `Deny`.

pub mod aalto;
pub mod balabit;

use std::borrow::Cow;
use std::sync::Arc;

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;
use serde::Serialize;

use crate::engine::{
    DefaultEngine, Engine, EngineConfig, FreeTextModality, ManualClock, Modalities, Modality,
    MouseModality, TrustParams, Verdict,
};
use crate::error::{Error, Result};
use crate::events::{KeyEvent, MouseEvent};

/// Secret that keys the replay engines' hashes; fixed so that runs are reproducible.
const REPLAY_SECRET: &[u8] = b"kinetype continuous replay secret";

/// A stream of raw events of one modality that the default engine takes.
pub trait StreamEvent: Clone + Send + Sync + 'static {
    /// The one modality these events feed.
    const MODALITIES: Modalities;
    /// Timestamp in microseconds, as the engine reads it.
    fn time_us(&self) -> f64;
    /// Ingests `events` of `session` for `user`.
    ///
    /// # Errors
    ///
    /// The errors of the engine's ingest call.
    fn ingest(engine: &DefaultEngine, user: &str, session: u64, events: &[Self]) -> Result<()>;
    /// Adds `events` as one background session of `person`.
    ///
    /// # Errors
    ///
    /// The errors of [`Engine::add_background_session_of`].
    fn add_background(engine: &DefaultEngine, person: &str, events: &[Self]) -> Result<()>;
}

impl StreamEvent for KeyEvent {
    const MODALITIES: Modalities = Modalities::KEYBOARD_ONLY;
    fn time_us(&self) -> f64 {
        FreeTextModality::event_time_us(self)
    }
    fn ingest(engine: &DefaultEngine, user: &str, session: u64, events: &[Self]) -> Result<()> {
        engine.ingest_keyboard(user, session, events)
    }
    fn add_background(engine: &DefaultEngine, person: &str, events: &[Self]) -> Result<()> {
        engine.add_background_session_of(person, events, &[])
    }
}

impl StreamEvent for MouseEvent {
    const MODALITIES: Modalities = Modalities::MOUSE_ONLY;
    fn time_us(&self) -> f64 {
        MouseModality::event_time_us(self)
    }
    fn ingest(engine: &DefaultEngine, user: &str, session: u64, events: &[Self]) -> Result<()> {
        engine.ingest_mouse(user, session, events)
    }
    fn add_background(engine: &DefaultEngine, person: &str, events: &[Self]) -> Result<()> {
        engine.add_background_session_of(person, &[], events)
    }
}

/// A test session streamed as the claimed user; `impostor` is used for counting only.
#[derive(Debug, Clone)]
pub struct TestStream<'a, E: Clone> {
    /// Events in time order.
    pub events: Cow<'a, [E]>,
    /// Whether someone other than the claimed user produced the events.
    pub impostor: bool,
}

/// One claimed user: enrolment sessions and the test sessions streamed as this user.
#[derive(Debug, Clone)]
pub struct ReplayUser<'a, E: Clone> {
    /// Name in the dataset, used as the engine's user id.
    pub name: String,
    /// Enrolment sessions, each in time order.
    pub enrolment: Vec<&'a [E]>,
    /// Test sessions.
    pub tests: Vec<TestStream<'a, E>>,
}

/// Users that share one engine and its background population. No background person may be
/// one of the group's users or produce one of its impostor sessions.
#[derive(Debug, Clone)]
pub struct Group<'a, E: Clone> {
    /// Background sessions, each in time order, with the person who made it.
    pub background: Vec<(&'a str, &'a [E])>,
    /// Users enrolled in this group's engine.
    pub users: Vec<ReplayUser<'a, E>>,
}

/// Settings of a continuous replay.
#[derive(Debug, Clone, PartialEq)]
pub struct ContinuousParams {
    /// Trust model parameters of every engine.
    pub trust: TrustParams,
    /// Target false-match rate the engine sets each user's allow threshold for.
    pub target_fmr: f64,
    /// Decisions per test session, at random events.
    pub challenges_per_session: usize,
    /// Seed of the challenge moments.
    pub seed: u64,
}

impl Default for ContinuousParams {
    /// Default trust parameters and target FMR of [`EngineConfig::new`], 5 challenges per
    /// session, seed 7.
    fn default() -> Self {
        let config = EngineConfig::new(REPLAY_SECRET.to_vec());
        ContinuousParams {
            trust: config.trust,
            target_fmr: config.target_fmr,
            challenges_per_session: 5,
            seed: 7,
        }
    }
}

/// Verdict counts of challenges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct VerdictCounts {
    /// Challenges with the verdict `Allow`.
    pub allow: u64,
    /// Challenges with the verdict `StepUp`.
    pub step_up: u64,
    /// Challenges with the verdict `Deny`.
    pub deny: u64,
}

impl VerdictCounts {
    fn add(&mut self, verdict: Verdict) {
        match verdict {
            Verdict::Allow => self.allow += 1,
            Verdict::Deny => self.deny += 1,
            _ => self.step_up += 1,
        }
    }

    /// Returns the number of challenges counted.
    pub fn total(&self) -> u64 {
        self.allow + self.step_up + self.deny
    }
}

/// Outcome of one test session.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionOutcome {
    /// Whether the session was an impostor's.
    pub impostor: bool,
    /// Actions the engine extracted from the whole session.
    pub actions: u64,
    /// Actions when the session was first locked out; `None` when it never was.
    pub locked_at: Option<u64>,
    /// Verdicts of the session's challenges.
    pub challenges: VerdictCounts,
    /// Whether the replay checks flagged the session by its end. No test session of these
    /// protocols is a replay, so every flag is a false one.
    pub replay_flagged: bool,
}

/// Figures of a continuous replay; see the [module documentation](self) for definitions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContinuousReport {
    /// The protocol in words.
    pub protocol: String,
    /// Trust parameters used.
    pub trust: TrustParams,
    /// Target false-match rate of the allow thresholds.
    pub target_fmr: f64,
    /// Users enrolled.
    pub users_enrolled: usize,
    /// Users whose enrolment failed (too little evidence), with their sessions left out.
    pub users_not_enrolled: usize,
    /// Enrolled users whose target FMR was out of reach on the background (allow threshold 1,
    /// so every challenge of theirs gets `StepUp` at best).
    pub users_unreachable_fmr: usize,
    /// Mean allow threshold over enrolled users, on the `[0, 1]` trust scale.
    pub mean_allow_threshold: f64,
    /// Genuine test sessions streamed.
    pub genuine_sessions: usize,
    /// Impostor test sessions streamed.
    pub impostor_sessions: usize,
    /// Average impostor actions before lock-out, over impostor sessions that were locked out;
    /// `None` when none was.
    pub ania: Option<f64>,
    /// Average genuine actions before a false lock-out, sessions never locked out counting
    /// with their length.
    pub anga: f64,
    /// Fraction of impostor sessions never locked out.
    pub impostors_never_detected: f64,
    /// Fraction of genuine sessions locked out at least once.
    pub genuine_locked_out: f64,
    /// Fraction of genuine sessions the replay checks flagged (all falsely).
    pub genuine_replay_flagged: f64,
    /// Fraction of impostor sessions the replay checks flagged (all falsely: impostor
    /// sessions are other people's genuine typing, not replays).
    pub impostor_replay_flagged: f64,
    /// Fraction of impostor challenges answered `Allow`.
    pub challenge_far: f64,
    /// Fraction of genuine challenges not answered `Allow`.
    pub challenge_frr: f64,
    /// Verdicts of genuine challenges.
    pub genuine_challenges: VerdictCounts,
    /// Verdicts of impostor challenges.
    pub impostor_challenges: VerdictCounts,
    /// Test events the engine rejected (timestamps going backwards), left out of the stream.
    pub rejected_events: u64,
    /// Every session's outcome.
    pub sessions: Vec<SessionOutcome>,
}

/// Sessions and enrolment counts of one group.
#[derive(Debug, Default)]
struct GroupOutcome {
    sessions: Vec<SessionOutcome>,
    enrolled: usize,
    not_enrolled: usize,
    thresholds: Vec<f64>,
    rejected_events: u64,
}

/// Largest batch the replay sends for enrolment; the engine's default batch limit.
const ENROLMENT_BATCH: usize = 10_000;

/// Runs every group and summarises; `protocol` describes the split in words.
///
/// # Errors
///
/// [`Error::InvalidParameter`] for invalid trust parameters or target FMR, the engine's
/// errors other than an enrolment with too little evidence, and [`Error::DatasetShape`]
/// (dataset `continuous`) when no test session was streamed.
pub fn replay<E: StreamEvent>(
    protocol: String,
    groups: &[Group<'_, E>],
    params: &ContinuousParams,
) -> Result<ContinuousReport> {
    let mut config = EngineConfig::new(REPLAY_SECRET.to_vec());
    config.modalities = E::MODALITIES;
    config.trust = params.trust;
    config.target_fmr = params.target_fmr;
    config.check()?;
    let outcomes: Vec<GroupOutcome> = groups
        .par_iter()
        .enumerate()
        .map(|(index, group)| run_group(&config, group, params, index as u64))
        .collect::<Result<_>>()?;
    summarise(protocol, params, outcomes)
}

fn run_group<E: StreamEvent>(
    config: &EngineConfig,
    group: &Group<'_, E>,
    params: &ContinuousParams,
    group_index: u64,
) -> Result<GroupOutcome> {
    let clock = Arc::new(ManualClock::new(0));
    let engine: DefaultEngine = Engine::with_clock(
        config.clone(),
        FreeTextModality::new(REPLAY_SECRET),
        MouseModality::default(),
        clock.clone(),
    )?;
    for (person, session) in &group.background {
        E::add_background(&engine, person, session)?;
    }
    let mut replay_clock = ReplayClock { clock, base_us: 0 };
    let mut out = GroupOutcome::default();
    for (user_index, user) in group.users.iter().enumerate() {
        engine.begin_enrolment(&user.name)?;
        for (session, events) in user.enrolment.iter().enumerate() {
            for chunk in events.chunks(ENROLMENT_BATCH) {
                replay_clock.follow(chunk.last().map_or(0.0, E::time_us));
                E::ingest(&engine, &user.name, session as u64, chunk)?;
            }
            replay_clock.next_session();
        }
        let report = match engine.finish_enrolment(&user.name) {
            Ok(report) => report,
            Err(Error::Enrolment { .. }) => {
                out.not_enrolled += 1;
                continue;
            }
            Err(other) => return Err(other),
        };
        out.enrolled += 1;
        out.thresholds.push(report.allow_threshold);
        for (test_index, test) in user.tests.iter().enumerate() {
            let seed =
                params.seed ^ (group_index << 40) ^ ((user_index as u64) << 20) ^ test_index as u64;
            let session = 1_000_000 + test_index as u64;
            let (outcome, rejected) = stream_session(
                &engine,
                &mut replay_clock,
                &user.name,
                session,
                test,
                params,
                seed,
            )?;
            out.rejected_events += rejected;
            out.sessions.push(outcome);
            engine.end_session(&user.name, session)?;
        }
    }
    Ok(out)
}

/// The engine clock of one group, following event timestamps.
///
/// Each session's events move the clock from `base_us` by their offset from the session's
/// first event. The next session starts an hour after the latest time reached, so the clock
/// never goes backwards and sessions do not share evidence age.
struct ReplayClock {
    clock: Arc<ManualClock>,
    base_us: u64,
}

/// Gap between sessions on the replay clock.
const SESSION_GAP_US: u64 = 3_600_000_000;

impl ReplayClock {
    /// Moves the clock to the time of an event `offset_us` after its session's first event.
    fn follow(&self, offset_us: f64) {
        let target = self.base_us.saturating_add(offset_us.max(0.0) as u64);
        let now = crate::engine::Clock::now_us(&*self.clock);
        if target > now {
            self.clock.advance_us(target - now);
        }
    }

    fn next_session(&mut self) {
        let now = crate::engine::Clock::now_us(&*self.clock);
        self.base_us = now.saturating_add(SESSION_GAP_US);
        self.clock.advance_us(self.base_us - now);
    }
}

/// Streams one test session event by event and returns its outcome and the number of
/// events the engine rejected.
fn stream_session<E: StreamEvent>(
    engine: &DefaultEngine,
    clock: &mut ReplayClock,
    user: &str,
    session: u64,
    test: &TestStream<'_, E>,
    params: &ContinuousParams,
    seed: u64,
) -> Result<(SessionOutcome, u64)> {
    let events = &test.events[..];
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut moments: Vec<usize> = (0..params.challenges_per_session)
        .filter(|_| !events.is_empty())
        .map(|_| rng.gen_range(0..events.len()))
        .collect();
    moments.sort_unstable();
    let mut next_moment = 0;
    let start_us = events.first().map_or(0.0, E::time_us);
    let mut outcome = SessionOutcome {
        impostor: test.impostor,
        actions: 0,
        locked_at: None,
        challenges: VerdictCounts::default(),
        replay_flagged: false,
    };
    let mut rejected = 0;
    for (index, event) in events.iter().enumerate() {
        clock.follow(event.time_us() - start_us);
        match E::ingest(engine, user, session, std::slice::from_ref(event)) {
            Ok(()) => {}
            Err(Error::InvalidBatch { .. }) => rejected += 1,
            Err(other) => return Err(other),
        }
        let score = engine.score(user, session)?;
        let actions = score.keyboard.actions + score.mouse.actions;
        if outcome.locked_at.is_none() && score.locked {
            outcome.locked_at = Some(actions);
        }
        outcome.actions = actions;
        outcome.replay_flagged |= score.replay_hits > 0;
        while next_moment < moments.len() && moments[next_moment] == index {
            let decision = engine.decide(user, session)?;
            outcome.challenges.add(decision.verdict);
            next_moment += 1;
        }
    }
    clock.next_session();
    Ok((outcome, rejected))
}

fn summarise(
    protocol: String,
    params: &ContinuousParams,
    outcomes: Vec<GroupOutcome>,
) -> Result<ContinuousReport> {
    let mut sessions = Vec::new();
    let (mut enrolled, mut not_enrolled, mut rejected_events) = (0, 0, 0);
    let mut thresholds = Vec::new();
    for outcome in outcomes {
        sessions.extend(outcome.sessions);
        enrolled += outcome.enrolled;
        not_enrolled += outcome.not_enrolled;
        thresholds.extend(outcome.thresholds);
        rejected_events += outcome.rejected_events;
    }
    let (impostor, genuine): (Vec<&SessionOutcome>, Vec<&SessionOutcome>) =
        sessions.iter().partition(|s| s.impostor);
    if impostor.is_empty() || genuine.is_empty() {
        return Err(Error::DatasetShape {
            dataset: "continuous".into(),
            problem: format!(
                "{} genuine and {} impostor sessions were streamed; both kinds are needed",
                genuine.len(),
                impostor.len()
            ),
        });
    }
    let detected: Vec<u64> = impostor.iter().filter_map(|s| s.locked_at).collect();
    let ania =
        (!detected.is_empty()).then(|| detected.iter().sum::<u64>() as f64 / detected.len() as f64);
    let anga = genuine
        .iter()
        .map(|s| s.locked_at.unwrap_or(s.actions) as f64)
        .sum::<f64>()
        / genuine.len() as f64;
    let fraction = |part: usize, whole: usize| part as f64 / whole.max(1) as f64;
    let mut genuine_challenges = VerdictCounts::default();
    let mut impostor_challenges = VerdictCounts::default();
    for s in &sessions {
        let counts = if s.impostor {
            &mut impostor_challenges
        } else {
            &mut genuine_challenges
        };
        counts.allow += s.challenges.allow;
        counts.step_up += s.challenges.step_up;
        counts.deny += s.challenges.deny;
    }
    let rate = |part: u64, whole: u64| part as f64 / whole.max(1) as f64;
    Ok(ContinuousReport {
        protocol,
        trust: params.trust,
        target_fmr: params.target_fmr,
        users_enrolled: enrolled,
        users_not_enrolled: not_enrolled,
        users_unreachable_fmr: thresholds.iter().filter(|&&t| t >= 1.0).count(),
        mean_allow_threshold: thresholds.iter().sum::<f64>() / thresholds.len().max(1) as f64,
        genuine_sessions: genuine.len(),
        impostor_sessions: impostor.len(),
        ania,
        anga,
        impostors_never_detected: fraction(
            impostor.iter().filter(|s| s.locked_at.is_none()).count(),
            impostor.len(),
        ),
        genuine_locked_out: fraction(
            genuine.iter().filter(|s| s.locked_at.is_some()).count(),
            genuine.len(),
        ),
        genuine_replay_flagged: fraction(
            genuine.iter().filter(|s| s.replay_flagged).count(),
            genuine.len(),
        ),
        impostor_replay_flagged: fraction(
            impostor.iter().filter(|s| s.replay_flagged).count(),
            impostor.len(),
        ),
        challenge_far: rate(impostor_challenges.allow, impostor_challenges.total()),
        challenge_frr: rate(
            genuine_challenges.step_up + genuine_challenges.deny,
            genuine_challenges.total(),
        ),
        genuine_challenges,
        impostor_challenges,
        rejected_events,
        sessions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(impostor: bool, actions: u64, locked_at: Option<u64>, allow: u64) -> SessionOutcome {
        SessionOutcome {
            impostor,
            actions,
            locked_at,
            challenges: VerdictCounts {
                allow,
                step_up: 2 - allow,
                deny: 0,
            },
            replay_flagged: false,
        }
    }

    fn group(sessions: Vec<SessionOutcome>) -> GroupOutcome {
        GroupOutcome {
            sessions,
            enrolled: 1,
            not_enrolled: 0,
            thresholds: vec![0.95],
            rejected_events: 0,
        }
    }

    #[test]
    fn summary_follows_ania_anga_conventions() {
        let outcomes = vec![
            group(vec![
                session(false, 100, None, 2),
                session(false, 80, Some(40), 1),
                session(true, 50, Some(12), 0),
            ]),
            group(vec![
                session(true, 60, None, 1),
                session(true, 70, Some(20), 0),
            ]),
        ];
        let report = summarise("test".into(), &ContinuousParams::default(), outcomes).unwrap();
        // ANIA: impostor sessions that were locked out only, (12 + 20) / 2.
        assert_eq!(report.ania, Some(16.0));
        // ANGA: a session never locked out counts with its length, (100 + 40) / 2.
        assert_eq!(report.anga, 70.0);
        assert!((report.impostors_never_detected - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(report.genuine_locked_out, 0.5);
        assert_eq!(report.impostor_challenges.total(), 6);
        assert!((report.challenge_far - 1.0 / 6.0).abs() < 1e-12);
        assert_eq!(report.challenge_frr, 0.25);
        assert_eq!(report.genuine_sessions, 2);
        assert_eq!(report.impostor_sessions, 3);
        assert_eq!(report.users_enrolled, 2);
    }

    #[test]
    fn no_impostor_detected_gives_no_ania() {
        let outcomes = vec![group(vec![
            session(false, 10, None, 2),
            session(true, 10, None, 2),
        ])];
        let report = summarise("test".into(), &ContinuousParams::default(), outcomes).unwrap();
        assert_eq!(report.ania, None);
        assert_eq!(report.impostors_never_detected, 1.0);
    }

    #[test]
    fn replay_without_sessions_is_error() {
        let groups: Vec<Group<'_, KeyEvent>> = Vec::new();
        let result = replay("empty".into(), &groups, &ContinuousParams::default());
        assert!(
            matches!(result, Err(Error::DatasetShape { .. })),
            "{result:?}"
        );
    }

    #[test]
    fn invalid_target_fmr_is_error() {
        let params = ContinuousParams {
            target_fmr: 1.5,
            ..ContinuousParams::default()
        };
        let groups: Vec<Group<'_, MouseEvent>> = Vec::new();
        let result = replay("bad".into(), &groups, &params);
        assert!(
            matches!(
                result,
                Err(Error::InvalidParameter {
                    name: "target_fmr",
                    ..
                })
            ),
            "{result:?}"
        );
    }

    #[test]
    fn replay_clock_never_goes_backwards() {
        let mut clock = ReplayClock {
            clock: Arc::new(ManualClock::new(0)),
            base_us: 0,
        };
        clock.follow(5_000_000.0);
        clock.follow(1_000_000.0);
        assert_eq!(crate::engine::Clock::now_us(&*clock.clock), 5_000_000);
        clock.next_session();
        let start = crate::engine::Clock::now_us(&*clock.clock);
        assert_eq!(start, 5_000_000 + SESSION_GAP_US);
        clock.follow(0.0);
        assert_eq!(crate::engine::Clock::now_us(&*clock.clock), start);
    }
}
