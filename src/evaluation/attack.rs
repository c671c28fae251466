//! Adversarial evaluation of the engine: forged sessions against victims enrolled from real
//! data, and the fraction of them that reach `Allow`.
//!
//! Protocol, per victim:
//!
//! 1. A single-modality [`DefaultEngine`] with background people disjoint from the victims
//!    enrols the victim and saves the model to a temporary directory.
//! 2. For every attempt, a fresh engine loads that model, ingests the *captured* session (a
//!    held-out genuine session) once as session 1, so its replay hashes are known, and then
//!    ingests the forged session as session 2.
//! 3. Events go in batches of [`AttackParams::batch_events`]; the manual clock advances by each
//!    batch's time span and the engine decides after every batch. An attempt counts as
//!    reaching Allow when any of those decisions is Allow.
//!
//! The forged sessions reuse the captured session's content (key codes, or mouse positions
//! and buttons) and change only the timing; see [`AttackKind`].

mod timing;

use std::path::Path;
use std::sync::Arc;

use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::Serialize;

use crate::datasets::aalto::AaltoParticipant;
use crate::datasets::balabit::MouseSession;
use crate::engine::{
    DefaultEngine, Engine, EngineConfig, FreeTextModality, ManualClock, Modalities, MouseModality,
    Verdict,
};
use crate::error::{Error, Result};
use crate::events::{KeyEvent, MouseEvent};
use timing::{KeyTimings, Keystroke, MouseTimings};

/// A forged session's timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum AttackKind {
    /// The captured session's events, unchanged.
    ExactReplay,
    /// The captured events with every timestamp moved by uniform noise in
    /// `[-jitter_ms, jitter_ms]`.
    JitteredReplay,
    /// Every interval set to the background population's median (and, for keys, every hold
    /// to the population's median hold).
    ConstantIntervals,
    /// Every interval (and hold) drawn independently from the background population's pooled
    /// intervals (and holds).
    PopulationIntervals,
    /// Timing from the victim's enrolment data, as if the template leaked. Keyboard: the
    /// victim's mean interval per digraph and mean hold per key; mouse: an interval drawn from
    /// the victim's intervals of the same event-kind transition. Each is multiplied by
    /// `1 + mimicry_noise * z`, `z` standard normal.
    Mimicry,
}

impl AttackKind {
    /// Every attack, in report order.
    pub const ALL: [AttackKind; 5] = [
        AttackKind::ExactReplay,
        AttackKind::JitteredReplay,
        AttackKind::ConstantIntervals,
        AttackKind::PopulationIntervals,
        AttackKind::Mimicry,
    ];

    /// Returns the attack's name in reports, such as `exact-replay`.
    pub fn name(self) -> &'static str {
        match self {
            AttackKind::ExactReplay => "exact-replay",
            AttackKind::JitteredReplay => "jittered-replay",
            AttackKind::ConstantIntervals => "constant-intervals",
            AttackKind::PopulationIntervals => "population-intervals",
            AttackKind::Mimicry => "mimicry",
        }
    }

    /// Deterministic attacks get one attempt per victim; the others get
    /// [`AttackParams::attempts`].
    fn is_random(self) -> bool {
        matches!(
            self,
            AttackKind::JitteredReplay | AttackKind::PopulationIntervals | AttackKind::Mimicry
        )
    }
}

/// Settings of an attack run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AttackParams {
    /// Seed of every random draw.
    pub seed: u64,
    /// Attempts per victim for each random attack.
    pub attempts: usize,
    /// Jitter bound of [`AttackKind::JitteredReplay`], milliseconds.
    pub jitter_ms: f64,
    /// Relative noise of [`AttackKind::Mimicry`].
    pub mimicry_noise: f64,
    /// Events per ingested batch.
    pub batch_events: usize,
    /// The engine's target false-match rate, which sets each victim's allow threshold.
    pub target_fmr: f64,
}

impl Default for AttackParams {
    /// Seed 7, 5 attempts, 5 ms jitter (2.5 times the engine's 2 ms replay quantum), 10 %
    /// mimicry noise, batches of 50 events, and the engine's default target FMR of 1 %.
    fn default() -> Self {
        AttackParams {
            seed: 7,
            attempts: 5,
            jitter_ms: 5.0,
            mimicry_noise: 0.1,
            batch_events: 50,
            target_fmr: 0.01,
        }
    }
}

/// Outcome of one attack against every victim of one modality.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttackRow {
    /// `keyboard` or `mouse`.
    pub modality: &'static str,
    /// The attack.
    pub attack: AttackKind,
    /// Attempts made.
    pub attempts: usize,
    /// Attempts with at least one Allow decision.
    pub allowed: usize,
    /// Attempts whose final decision was Deny because of a replay hit.
    pub denied_replay: usize,
    /// Attempts whose final decision was StepUp because the input looked synthetic.
    pub synthetic: usize,
}

impl AttackRow {
    /// Fraction of attempts that reached Allow.
    pub fn allow_rate(&self) -> f64 {
        self.allowed as f64 / self.attempts.max(1) as f64
    }
}

/// Result of [`keyboard_attacks`] or [`mouse_attacks`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttackReport {
    /// Victims attacked.
    pub victims: usize,
    /// Victims whose captured genuine session reached Allow when the engine first saw it.
    pub genuine_allowed: usize,
    /// Victims whose allow threshold is 1, so that no session of theirs can reach Allow:
    /// the target FMR is out of reach on the background population.
    pub unreachable_threshold: usize,
    /// Mean over victims of the allow threshold set at enrolment.
    pub mean_allow_threshold: f64,
    /// One row per attack.
    pub rows: Vec<AttackRow>,
}

/// Engine secret of the attack runs; the attacker does not know it, and no attack needs it.
const SECRET: &[u8] = b"kinetype attack evaluation secret";

/// One victim's data for a modality with events of type `E`.
struct Victim<E> {
    id: String,
    enrolment: Vec<Vec<E>>,
    captured: Vec<E>,
}

/// The modality-specific parts of a run: engine construction, ingestion and forging.
trait Side {
    type Event: Copy;
    const NAME: &'static str;
    fn config(config: &mut EngineConfig);
    fn ingest(
        engine: &DefaultEngine,
        user: &str,
        session: u64,
        events: &[Self::Event],
    ) -> Result<()>;
    fn time_us(event: &Self::Event) -> f64;
    fn background(engine: &DefaultEngine, person: &str, session: &[Self::Event]) -> Result<()>;
}

struct Keyboard;

impl Side for Keyboard {
    type Event = KeyEvent;
    const NAME: &'static str = "keyboard";

    fn config(config: &mut EngineConfig) {
        config.modalities = Modalities::KEYBOARD_ONLY;
        // Ten Aalto sentences give about 170 to 370 keystrokes (515 to 1,108 events per 15).
        config.enrolment_evidence.keyboard = 150;
    }

    fn ingest(engine: &DefaultEngine, user: &str, session: u64, events: &[KeyEvent]) -> Result<()> {
        engine.ingest_keyboard(user, session, events)
    }

    fn time_us(event: &KeyEvent) -> f64 {
        event.time_us as f64
    }

    fn background(engine: &DefaultEngine, person: &str, session: &[KeyEvent]) -> Result<()> {
        engine.add_background_session_of(person, session, &[])
    }
}

struct Mouse;

impl Side for Mouse {
    type Event = MouseEvent;
    const NAME: &'static str = "mouse";

    fn config(config: &mut EngineConfig) {
        config.modalities = Modalities::MOUSE_ONLY;
    }

    fn ingest(
        engine: &DefaultEngine,
        user: &str,
        session: u64,
        events: &[MouseEvent],
    ) -> Result<()> {
        engine.ingest_mouse(user, session, events)
    }

    fn time_us(event: &MouseEvent) -> f64 {
        event.time_ms * 1000.0
    }

    fn background(engine: &DefaultEngine, person: &str, session: &[MouseEvent]) -> Result<()> {
        engine.add_background_session_of(person, &[], session)
    }
}

fn engine<S: Side>(model_dir: &Path, target_fmr: f64) -> Result<(DefaultEngine, Arc<ManualClock>)> {
    let mut config = EngineConfig::new(SECRET.to_vec());
    config.target_fmr = target_fmr;
    S::config(&mut config);
    config.model_dir = Some(model_dir.to_path_buf());
    let clock = Arc::new(ManualClock::new(1_000_000));
    let engine = Engine::with_clock(
        config,
        FreeTextModality::new(SECRET),
        MouseModality::default(),
        clock.clone(),
    )?;
    Ok((engine, clock))
}

/// Ingests `events` as `session` in batches, deciding after each; returns whether any decision
/// was Allow, and the final decision's verdict and reason.
fn play<S: Side>(
    engine: &DefaultEngine,
    clock: &ManualClock,
    user: &str,
    session: u64,
    events: &[S::Event],
    batch: usize,
) -> Result<(bool, Option<crate::engine::Decision>)> {
    let mut allowed = false;
    let mut last = None;
    let mut previous_end: Option<f64> = None;
    for chunk in events.chunks(batch.max(1)) {
        let start = S::time_us(&chunk[0]);
        let end = S::time_us(&chunk[chunk.len() - 1]);
        let span = end - previous_end.unwrap_or(start);
        clock.advance_us(span.clamp(0.0, 1e12) as u64);
        previous_end = Some(end);
        S::ingest(engine, user, session, chunk)?;
        let decision = engine.decide(user, session)?;
        allowed |= decision.verdict == Verdict::Allow;
        last = Some(decision);
    }
    Ok((allowed, last))
}

/// Builds a forged session of the given attack against a victim.
type Forge<'a, E> = dyn FnMut(AttackKind, &Victim<E>, &mut Xoshiro256PlusPlus) -> Vec<E> + 'a;

/// Runs every attack against every victim of one modality.
fn run<S: Side>(
    victims: &[Victim<S::Event>],
    background: &[(String, Vec<S::Event>)],
    params: &AttackParams,
    forge: &mut Forge<'_, S::Event>,
) -> Result<AttackReport> {
    let mut rows: Vec<AttackRow> = AttackKind::ALL
        .iter()
        .map(|&attack| AttackRow {
            modality: S::NAME,
            attack,
            attempts: 0,
            allowed: 0,
            denied_replay: 0,
            synthetic: 0,
        })
        .collect();
    let mut genuine_allowed = 0;
    let mut unreachable_threshold = 0;
    let mut threshold_sum = 0.0;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(params.seed);
    for victim in victims {
        let dir = tempdir(S::NAME, &victim.id)?;
        {
            let (engine, _) = engine::<S>(&dir, params.target_fmr)?;
            for (person, session) in background {
                S::background(&engine, person, session)?;
            }
            engine.begin_enrolment(&victim.id)?;
            // Each enrolment session has its own clock, so each gets its own session id.
            for (i, events) in victim.enrolment.iter().enumerate() {
                let session = 1_000 + i as u64;
                for chunk in events.chunks(engine.config().limits.max_batch_events) {
                    S::ingest(&engine, &victim.id, session, chunk)?;
                }
                engine.end_session(&victim.id, session)?;
            }
            let report = engine.finish_enrolment(&victim.id)?;
            threshold_sum += report.allow_threshold;
            unreachable_threshold += usize::from(report.allow_threshold >= 1.0);
        }
        for (row, &attack) in rows.iter_mut().zip(AttackKind::ALL.iter()) {
            let attempts = if attack.is_random() {
                params.attempts
            } else {
                1
            };
            for _ in 0..attempts {
                let (engine, clock) = engine::<S>(&dir, params.target_fmr)?;
                let (genuine, _) = play::<S>(
                    &engine,
                    &clock,
                    &victim.id,
                    1,
                    &victim.captured,
                    params.batch_events,
                )?;
                if attack == AttackKind::ExactReplay {
                    genuine_allowed += usize::from(genuine);
                }
                let forged = forge(attack, victim, &mut rng);
                let (allowed, last) =
                    play::<S>(&engine, &clock, &victim.id, 2, &forged, params.batch_events)?;
                row.attempts += 1;
                row.allowed += usize::from(allowed);
                if let Some(d) = last {
                    row.denied_replay += usize::from(d.reason == crate::engine::Reason::Replay);
                    row.synthetic += usize::from(d.reason == crate::engine::Reason::SyntheticInput);
                }
            }
        }
        std::fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    }
    Ok(AttackReport {
        victims: victims.len(),
        genuine_allowed,
        unreachable_threshold,
        mean_allow_threshold: threshold_sum / victims.len().max(1) as f64,
        rows,
    })
}

/// Creates an empty temporary model directory for one victim.
fn tempdir(modality: &str, victim: &str) -> Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "kinetype-attack-{}-{modality}-{victim}",
        std::process::id()
    ));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    }
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    Ok(dir)
}

/// Attacks keyboard victims enrolled from Aalto participants.
///
/// Each victim enrols on sentences 1 to 10 (one session) and its captured session is
/// sentences 11 to 15. Every background participant contributes all 15 sentences as one
/// background session, and the population statistics come from the background only.
///
/// # Errors
///
/// [`Error::InvalidParameter`] when there are no victims or no background participants, and
/// any engine error (for example a victim too short to enrol).
pub fn keyboard_attacks(
    victims: &[AaltoParticipant],
    background: &[AaltoParticipant],
    params: &AttackParams,
) -> Result<AttackReport> {
    check_counts(victims.len(), background.len())?;
    let events_of = |sentences: &[crate::datasets::aalto::AaltoSentence]| -> Vec<KeyEvent> {
        let keys: Vec<Keystroke> = sentences
            .iter()
            .flat_map(|s| timing::keystrokes(&s.events))
            .collect();
        let mut keys = keys;
        keys.sort_by_key(|k| k.press_us);
        timing::key_events(&keys)
    };
    let mut population = KeyTimings::default();
    let background_events: Vec<(String, Vec<KeyEvent>)> = background
        .iter()
        .map(|p| {
            let events = events_of(&p.sentences);
            population.add(&timing::keystrokes(&events));
            (p.id.to_string(), events)
        })
        .collect();
    let victims: Vec<Victim<KeyEvent>> = victims
        .iter()
        .map(|p| {
            let split = p.sentences.len().min(10);
            Victim {
                id: format!("aalto-{}", p.id),
                enrolment: vec![events_of(&p.sentences[..split])],
                captured: events_of(&p.sentences[split..]),
            }
        })
        .collect();
    let constant_interval = population.median_interval_ms();
    let constant_hold = population.median_hold_ms();
    let mut forge =
        |attack: AttackKind, victim: &Victim<KeyEvent>, rng: &mut Xoshiro256PlusPlus| {
            let captured = timing::keystrokes(&victim.captured);
            let keys = match attack {
                AttackKind::ExactReplay => return victim.captured.clone(),
                AttackKind::JitteredReplay => timing::jitter_keys(&captured, params.jitter_ms, rng),
                AttackKind::ConstantIntervals => {
                    timing::retime_keys(&captured, |_, _| constant_interval, |_| constant_hold)
                }
                AttackKind::PopulationIntervals => {
                    let intervals: Vec<f64> = (0..captured.len())
                        .map(|_| timing::draw(&population.intervals_ms, constant_interval, rng))
                        .collect();
                    let holds: Vec<f64> = (0..captured.len())
                        .map(|_| timing::draw(&population.holds_ms, constant_hold, rng))
                        .collect();
                    let (mut i, mut h) = (intervals.into_iter(), holds.into_iter());
                    timing::retime_keys(
                        &captured,
                        |_, _| i.next().unwrap_or(constant_interval),
                        |_| h.next().unwrap_or(constant_hold),
                    )
                }
                AttackKind::Mimicry => {
                    let mut own = KeyTimings::default();
                    for events in &victim.enrolment {
                        own.add(&timing::keystrokes(events));
                    }
                    timing::mimic_keys(&captured, &own, params.mimicry_noise, rng)
                }
            };
            timing::key_events(&keys)
        };
    run::<Keyboard>(&victims, &background_events, params, &mut forge)
}

/// A mouse victim: training sessions for enrolment and one captured genuine session.
#[derive(Debug, Clone)]
pub struct MouseVictim {
    /// Name used as the engine's user id, such as `user7`.
    pub id: String,
    /// Enrolment sessions.
    pub enrolment: Vec<MouseSession>,
    /// A held-out genuine session.
    pub captured: MouseSession,
}

/// Joins a session's segments into one time-ordered stream: each segment after a break (where
/// the client clock may have jumped back) starts 1 s after the previous segment ends.
pub fn monotonic_events(session: &MouseSession) -> Vec<MouseEvent> {
    let mut out: Vec<MouseEvent> = Vec::with_capacity(session.events.len());
    let mut starts = vec![0];
    starts.extend(session.breaks.iter().copied());
    starts.push(session.events.len());
    for bounds in starts.windows(2) {
        let Some(segment) = session.events.get(bounds[0]..bounds[1]) else {
            continue;
        };
        let Some(first) = segment.first() else {
            continue;
        };
        let offset = match out.last() {
            Some(last) => last.time_ms + 1000.0 - first.time_ms,
            None => -first.time_ms.min(0.0),
        };
        let mut previous = out.last().map_or(f64::NEG_INFINITY, |e| e.time_ms);
        for e in segment {
            // Within a segment the parser keeps time order; the max guards the join.
            let time_ms = (e.time_ms + offset).max(previous);
            previous = time_ms;
            out.push(MouseEvent { time_ms, ..*e });
        }
    }
    out
}

/// Attacks mouse victims enrolled from Balabit training sessions.
///
/// Each victim gets its own engine whose background is `background(victim)`, sessions of the
/// other users, each with the user who made it; the population statistics come from that
/// background only.
///
/// # Errors
///
/// As [`keyboard_attacks`].
pub fn mouse_attacks(
    victims: &[MouseVictim],
    background: impl Fn(&str) -> Vec<(String, MouseSession)>,
    params: &AttackParams,
) -> Result<AttackReport> {
    let mut total = AttackReport {
        victims: 0,
        genuine_allowed: 0,
        unreachable_threshold: 0,
        mean_allow_threshold: 0.0,
        rows: Vec::new(),
    };
    for victim in victims {
        let sessions = background(&victim.id);
        check_counts(1, sessions.len())?;
        let background_events: Vec<(String, Vec<MouseEvent>)> = sessions
            .iter()
            .map(|(person, s)| (person.clone(), monotonic_events(s)))
            .collect();
        let mut population = MouseTimings::default();
        for (_, events) in &background_events {
            population.add(events);
        }
        let mut own = MouseTimings::default();
        let enrolment: Vec<Vec<MouseEvent>> =
            victim.enrolment.iter().map(monotonic_events).collect();
        for events in &enrolment {
            own.add(events);
        }
        let one = Victim {
            id: victim.id.clone(),
            enrolment,
            captured: monotonic_events(&victim.captured),
        };
        let constant = population.median_positive_ms();
        let mut forge = |attack: AttackKind,
                         v: &Victim<MouseEvent>,
                         rng: &mut Xoshiro256PlusPlus| match attack {
            AttackKind::ExactReplay => v.captured.clone(),
            AttackKind::JitteredReplay => timing::jitter_mouse(&v.captured, params.jitter_ms, rng),
            AttackKind::ConstantIntervals => timing::retime_mouse(&v.captured, |_, _| constant),
            AttackKind::PopulationIntervals => timing::retime_mouse(&v.captured, |_, _| {
                timing::draw(&population.intervals_ms, constant, rng)
            }),
            AttackKind::Mimicry => {
                timing::mimic_mouse(&v.captured, &own, params.mimicry_noise, rng)
            }
        };
        let params = AttackParams {
            seed: params.seed ^ total.victims as u64,
            ..*params
        };
        let report = run::<Mouse>(
            std::slice::from_ref(&one),
            &background_events,
            &params,
            &mut forge,
        )?;
        total.mean_allow_threshold = (total.mean_allow_threshold * total.victims as f64
            + report.mean_allow_threshold)
            / (total.victims + 1) as f64;
        total.victims += report.victims;
        total.genuine_allowed += report.genuine_allowed;
        total.unreachable_threshold += report.unreachable_threshold;
        if total.rows.is_empty() {
            total.rows = report.rows;
        } else {
            for (sum, row) in total.rows.iter_mut().zip(report.rows) {
                sum.attempts += row.attempts;
                sum.allowed += row.allowed;
                sum.denied_replay += row.denied_replay;
                sum.synthetic += row.synthetic;
            }
        }
    }
    Ok(total)
}

fn check_counts(victims: usize, background: usize) -> Result<()> {
    if victims == 0 || background == 0 {
        return Err(Error::InvalidParameter {
            name: "victims and background",
            value: format!("{victims} victims, {background} background sessions"),
            expected: "at least one victim and one background session",
        });
    }
    Ok(())
}
