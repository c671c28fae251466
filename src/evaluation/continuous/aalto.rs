//! The Aalto 136M-keystrokes subset as a continuous-authentication replay.
//!
//! Protocol, over the 500 participants in increasing id order:
//!
//! - Every fifth participant (positions 0, 5, 10, ...) is background only: 100 people whose
//!   15 sentences calibrate impostor scores. They never enrol and never act as impostors.
//! - The other 400 participants enrol with the keyboard on their first
//!   [`ENROLMENT_SENTENCES`] sentences (by typing order).
//! - Each enrolled participant's remaining sentences, concatenated in typing order, stream
//!   as one genuine session.
//! - For each enrolled participant, the remaining sentences of [`IMPOSTORS_PER_USER`] other
//!   enrolled participants, chosen with a fixed seed, stream as impostor sessions claiming
//!   that participant. Impostors never saw the claimed user's data.
//!
//! Users are split into groups of [`USERS_PER_GROUP`] that share one engine (and the same
//! background); groups run in parallel.

use std::borrow::Cow;
use std::path::Path;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_xoshiro::Xoshiro256PlusPlus;

use super::{ContinuousParams, ContinuousReport, Group, ReplayUser, TestStream, replay};
use crate::datasets::aalto::{self, AaltoDataset, AaltoSentence};
use crate::error::{Error, Result};
use crate::events::KeyEvent;

/// Sentences each participant enrols on.
pub const ENROLMENT_SENTENCES: usize = 10;
/// Impostor sessions streamed against each enrolled participant.
pub const IMPOSTORS_PER_USER: usize = 5;
/// Every this many participants, one is background only.
pub const BACKGROUND_EVERY: usize = 5;
/// Enrolled users per engine.
pub const USERS_PER_GROUP: usize = 50;

/// Loads the dataset under `dir` and runs the replay.
///
/// # Errors
///
/// The errors of [`aalto::load`], [`Error::DatasetShape`] when a participant has fewer than
/// [`ENROLMENT_SENTENCES`] + 1 sentences, and the errors of [`replay`].
pub fn replay_aalto(dir: &Path, params: &ContinuousParams) -> Result<ContinuousReport> {
    let data = aalto::load(dir)?;
    replay_dataset(&data, params)
}

/// Runs the replay on a loaded dataset.
///
/// # Errors
///
/// As [`replay_aalto`] without the loading errors.
pub fn replay_dataset(data: &AaltoDataset, params: &ContinuousParams) -> Result<ContinuousReport> {
    for p in &data.participants {
        if p.sentences.len() <= ENROLMENT_SENTENCES {
            return Err(Error::DatasetShape {
                dataset: aalto::NAME.into(),
                problem: format!(
                    "participant {} has {} sentences; the protocol needs more than {}",
                    p.id,
                    p.sentences.len(),
                    ENROLMENT_SENTENCES
                ),
            });
        }
    }
    let is_background = |i: usize| i.is_multiple_of(BACKGROUND_EVERY);
    // One background session per person, so the engine calibrates on 100 people rather
    // than on 1,500 sentences (it keeps at most 200 background sessions).
    let background_people: Vec<(String, Vec<KeyEvent>)> = data
        .participants
        .iter()
        .enumerate()
        .filter(|(i, _)| is_background(*i))
        .map(|(_, p)| (p.id.to_string(), concatenate(&p.sentences)))
        .collect();
    let background: Vec<(&str, &[KeyEvent])> = background_people
        .iter()
        .map(|(person, v)| (person.as_str(), &v[..]))
        .collect();
    let enrolled: Vec<usize> = (0..data.participants.len())
        .filter(|&i| !is_background(i))
        .collect();
    // Test streams: the sentences after enrolment, concatenated in typing order.
    let streams: Vec<Vec<KeyEvent>> = enrolled
        .iter()
        .map(|&i| concatenate(&data.participants[i].sentences[ENROLMENT_SENTENCES..]))
        .collect();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(params.seed);
    let mut users = Vec::new();
    for (position, &i) in enrolled.iter().enumerate() {
        let participant = &data.participants[i];
        let mut others: Vec<usize> = (0..enrolled.len()).filter(|&o| o != position).collect();
        others.shuffle(&mut rng);
        let mut tests = vec![TestStream {
            events: Cow::Borrowed(&streams[position][..]),
            impostor: false,
        }];
        tests.extend(others.iter().take(IMPOSTORS_PER_USER).map(|&o| TestStream {
            events: Cow::Borrowed(&streams[o][..]),
            impostor: true,
        }));
        users.push(ReplayUser {
            name: participant.id.to_string(),
            enrolment: participant.sentences[..ENROLMENT_SENTENCES]
                .iter()
                .map(|s| &s.events[..])
                .collect(),
            tests,
        });
    }
    let groups: Vec<Group<'_, KeyEvent>> = users
        .chunks(USERS_PER_GROUP)
        .map(|chunk| Group {
            background: background.clone(),
            users: chunk.to_vec(),
        })
        .collect();
    let protocol = format!(
        "{} participants: every {}th ({} people) is background only; {} enrol with the \
         keyboard on their first {} sentences, their remaining sentences stream as one \
         genuine session, and the remaining sentences of {} other enrolled participants \
         (seed {}) stream as impostor sessions; {} challenges per session",
        data.participants.len(),
        BACKGROUND_EVERY,
        data.participants.len() - enrolled.len(),
        enrolled.len(),
        ENROLMENT_SENTENCES,
        IMPOSTORS_PER_USER,
        params.seed,
        params.challenges_per_session
    );
    replay(protocol, &groups, params)
}

/// Joins sentences into one event stream in time order.
///
/// Sentences are ordered by their first press, but a key of one sentence can be released
/// after the next sentence's first press. The joined events are therefore sorted again,
/// stably, so a press keeps its place before a release at the same millisecond.
fn concatenate(sentences: &[AaltoSentence]) -> Vec<KeyEvent> {
    let mut events: Vec<KeyEvent> = sentences
        .iter()
        .flat_map(|s| s.events.iter().copied())
        .collect();
    events.sort_by_key(|e| e.time_us);
    events
}
