//! A small mouse-like modality and synthetic users shared by the engine tests and benches.
#![allow(dead_code, reason = "each test binary uses a different subset")]
#![allow(
    unreachable_pub,
    reason = "shared between test and bench binaries by path"
)]

use std::sync::Arc;

use kinetype::Result;
use kinetype::engine::{
    Engine, EngineConfig, EnrolmentReport, Evidence, KeyHoldModality, ManualClock, Modality,
};
use kinetype::events::KeyEvent;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};

/// A mouse button transition; timestamps are `f64` microseconds so NaN can be tested.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Click {
    pub time_us: f64,
    pub down: bool,
}

/// A click: button down to button up.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClickAction {
    pub time_us: f64,
    pub duration_us: f64,
}

/// Mean and deviation of ln(click duration in ms).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClickModel {
    pub mean: f64,
    pub sd: f64,
}

/// Scores a click by the z-score of its log duration.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClickModality;

fn ln_ms(us: f64) -> f64 {
    (us / 1000.0).max(1.0).ln()
}

impl Modality for ClickModality {
    type Event = Click;
    type Action = ClickAction;
    type Extractor = Option<f64>;
    type Model = ClickModel;
    type EarlierModel = ClickModel;
    const NAME: &'static str = "click-test";
    const SCHEMA: &'static str = "click-test/v1: ln(duration ms) mean, sd";

    fn event_time_us(event: &Click) -> f64 {
        event.time_us
    }

    fn extract(&self, down: &mut Option<f64>, event: &Click, out: &mut Vec<ClickAction>) {
        if event.down {
            *down = Some(event.time_us);
        } else if let Some(start) = down.take() {
            out.push(ClickAction {
                time_us: start,
                duration_us: event.time_us - start,
            });
        }
    }

    fn action_time_us(action: &ClickAction) -> f64 {
        action.time_us
    }

    fn action_timings(action: &ClickAction, out: &mut Vec<f64>) {
        out.push(action.duration_us);
    }

    fn train(
        &self,
        actions: &[ClickAction],
        _background: &[Vec<&[ClickAction]>],
    ) -> Result<ClickModel> {
        let v: Vec<f64> = actions.iter().map(|a| ln_ms(a.duration_us)).collect();
        if v.len() < 2 {
            return Err(kinetype::Error::InvalidTrainingData {
                problem: "need 2 clicks".into(),
            });
        }
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (v.len() - 1) as f64;
        Ok(ClickModel {
            mean,
            sd: var.sqrt().max(0.02),
        })
    }

    fn score(&self, model: &ClickModel, action: &ClickAction) -> Option<f64> {
        Some(((ln_ms(action.duration_us) - model.mean) / model.sd).abs())
    }

    fn adapt(&self, model: &ClickModel, actions: &[ClickAction], rate: f64) -> Result<ClickModel> {
        let new = self.train(actions, &[])?;
        Ok(ClickModel {
            mean: model.mean + rate * (new.mean - model.mean),
            sd: model.sd + rate * (new.sd - model.sd),
        })
    }
}

pub type TestEngine = Engine<KeyHoldModality, ClickModality>;

pub const SECRET: &[u8] = b"test secret of sixteen+ bytes";

/// A synthetic person: a hold-time base per key and a click-duration base, in ms.
#[derive(Debug, Clone)]
pub struct Person {
    pub holds_ms: [f64; 6],
    pub click_ms: f64,
}

impl Person {
    pub fn new(seed: u64) -> Self {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut holds_ms = [0.0; 6];
        for h in &mut holds_ms {
            *h = rng.gen_range(60.0..160.0);
        }
        Person {
            holds_ms,
            click_ms: rng.gen_range(70.0..220.0),
        }
    }

    /// `n` keystrokes starting at `start_us`, with human-like varied gaps.
    pub fn keys(&self, n: usize, start_us: i64, seed: u64) -> Vec<KeyEvent> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut events = Vec::with_capacity(2 * n);
        let mut t = start_us;
        for _ in 0..n {
            let key = rng.gen_range(0..6usize);
            let hold = self.holds_ms[key] * rng.gen_range(0.9..1.1) * 1000.0;
            events.push(KeyEvent::press(key as u32, t));
            events.push(KeyEvent::release(key as u32, t + hold as i64));
            t += hold as i64 + rng.gen_range(30_000..400_000);
        }
        events
    }

    /// `n` clicks starting at `start_us`.
    pub fn clicks(&self, n: usize, start_us: f64, seed: u64) -> Vec<Click> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut events = Vec::with_capacity(2 * n);
        let mut t = start_us;
        for _ in 0..n {
            let duration = self.click_ms * rng.gen_range(0.9..1.1) * 1000.0;
            events.push(Click {
                time_us: t,
                down: true,
            });
            events.push(Click {
                time_us: t + duration,
                down: false,
            });
            t += duration + rng.gen_range(200_000.0..2_000_000.0);
        }
        events
    }
}

/// Returns a configuration with small evidence amounts so that tests run quickly.
pub fn small_config() -> EngineConfig {
    let mut config = EngineConfig::new(SECRET.to_vec());
    config.enrolment_evidence = Evidence {
        keyboard: 60,
        mouse: 40,
    };
    config.min_evidence = Evidence {
        keyboard: 20,
        mouse: 10,
    };
    config.adaptation.min_actions = 20;
    config
}

/// Builds an engine on a manual clock with `background` synthetic background users (seeds
/// 10_000 and up).
pub fn engine_with(config: EngineConfig, background: u64) -> (TestEngine, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(1_000_000));
    let engine = Engine::with_clock(
        config,
        KeyHoldModality::new(SECRET),
        ClickModality,
        clock.clone(),
    )
    .expect("test configuration is valid");
    for b in 0..background {
        let person = Person::new(10_000 + b);
        engine
            .add_background_session(&person.keys(80, 0, b), &person.clicks(40, 0.0, b))
            .expect("background session is valid");
    }
    (engine, clock)
}

/// Begins, feeds and finishes enrolment of `user` behaving as `person`.
pub fn enrol(engine: &TestEngine, user: &str, person: &Person, seed: u64) -> EnrolmentReport {
    engine.begin_enrolment(user).unwrap();
    engine
        .ingest_keyboard(user, 0, &person.keys(70, 0, seed))
        .unwrap();
    engine
        .ingest_mouse(user, 0, &person.clicks(45, 0.0, seed))
        .unwrap();
    engine.finish_enrolment(user).unwrap()
}
