//! The Balabit Mouse Dynamics Challenge as a continuous-authentication replay.
//!
//! Protocol: each of the 10 users enrols on all of their training sessions, with the other 9
//! users' training sessions as the background population. Each labelled test session then
//! streams, event by event, as the user whose folder it sits in (the claimed user). A session
//! labelled 0 in `public_labels.csv` is genuine and one labelled 1 is an impostor's; labels
//! are used only for counting. Each user has an engine of their own, so no user is in their
//! own background.
//!
//! The engine splits actions at cursor warps by the loader's rule ([`crate::mouse::is_warp`]).
//! NOTE: it does not see the loader's other stream breaks, at the dropped `65535,65535` rows,
//! so an action may span one there. Those rows usually follow idle gaps of the data set's
//! capture, which split actions anyway. The batch evaluation in
//! [`crate::evaluation::balabit`] honours every break.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

use rayon::prelude::*;

use super::{ContinuousParams, ContinuousReport, Group, ReplayUser, TestStream, replay};
use crate::datasets::balabit::{self, SessionFile};
use crate::error::{Error, Result};
use crate::evaluation::balabit::labelled_test_sessions;
use crate::events::MouseEvent;

/// Loads the sessions under `dir` (the dataset folder) and runs the replay.
///
/// # Errors
///
/// [`Error::Io`] and [`Error::Parse`] from reading the files, [`Error::DatasetShape`] when a
/// labelled session is missing or a user has no training session, and the errors of
/// [`replay`].
pub fn replay_balabit(dir: &Path, params: &ContinuousParams) -> Result<ContinuousReport> {
    let labels = balabit::load_labels(&dir.join(balabit::LABELS_FILE))?;
    let training = balabit::list_sessions(&dir.join(balabit::TRAINING_DIR))?;
    let tests = labelled_test_sessions(dir, &labels)?;
    let load = |files: &[SessionFile]| -> Result<Vec<(String, Vec<MouseEvent>)>> {
        files
            .par_iter()
            .map(|f| Ok((f.user.clone(), balabit::load_session(&f.path)?.events)))
            .collect()
    };
    let training = load(&training)?;
    let test_events = load(&tests)?;

    let mut by_user: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (index, (user, _)) in training.iter().enumerate() {
        by_user.entry(user).or_default().push(index);
    }
    if let Some(orphan) = tests
        .iter()
        .find(|f| !by_user.contains_key(f.user.as_str()))
    {
        return Err(Error::DatasetShape {
            dataset: balabit::NAME.into(),
            problem: format!(
                "test session {} of {} has no training sessions of its user to enrol on",
                orphan.session, orphan.user
            ),
        });
    }
    let mut groups = Vec::new();
    for (&user, own) in &by_user {
        let background = training
            .iter()
            .filter(|(u, _)| u != user)
            .map(|(u, events)| (u.as_str(), &events[..]))
            .collect();
        let enrolment = own.iter().map(|&i| &training[i].1[..]).collect();
        let tests = tests
            .iter()
            .zip(&test_events)
            .filter(|(file, _)| file.user == user)
            .map(|(file, (_, events))| TestStream {
                events: Cow::Borrowed(&events[..]),
                impostor: labels[&file.session],
            })
            .collect();
        groups.push(Group {
            background,
            users: vec![ReplayUser {
                name: user.to_owned(),
                enrolment,
                tests,
            }],
        });
    }
    let protocol = format!(
        "{} users, each enrolled with the mouse on their own training sessions and calibrated \
         on the other users' training sessions; {} labelled test sessions streamed event by \
         event as the folder's user (label 0 genuine, 1 impostor); {} challenges per session",
        groups.len(),
        tests.len(),
        params.challenges_per_session
    );
    replay(protocol, &groups, params)
}
