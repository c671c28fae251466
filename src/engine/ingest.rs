//! Ingestion of event batches: validation, action extraction, scoring, trust and window
//! updates.

use std::time::Duration;

use super::Engine;
use super::defences::{ReplayCheck, TimingStore};
use super::modality::Modality;
use super::state::{
    SessionState, SideModel, SideSession, TimingStores, UserModel, UserState, lock,
};
use crate::error::{BatchProblem, Error, Result};

impl<K: Modality, M: Modality> Engine<K, M> {
    /// Ingests a batch of keyboard events of one session.
    ///
    /// The whole batch is validated before any of it is applied, so a rejected batch leaves
    /// the user's state as it was. With a model directory, the call also writes the user's
    /// file, holding the user's lock, once
    /// [`replay_save_every`](super::DefenceParams::replay_save_every) new replay hashes have
    /// accumulated. A failed write is logged and does not fail the call.
    ///
    /// # Errors
    ///
    /// [`Error::ModalityDisabled`] when the configuration disables the keyboard;
    /// [`Error::UnknownUser`]; [`Error::InvalidBatch`] for an empty or oversized batch, a NaN,
    /// infinite or negative timestamp, or time going backwards within the session.
    pub fn ingest_keyboard(&self, user: &str, session: u64, events: &[K::Event]) -> Result<()> {
        self.check_enabled(K::NAME, self.config.modalities.keyboard)?;
        self.ingest(
            user,
            session,
            events,
            |s| &mut s.keyboard,
            |u| &mut u.enrolment.keyboard,
            |t| &mut t.keyboard,
            |m| m.keyboard.as_ref(),
            &self.keyboard,
            self.config.fusion.keyboard,
            self.config.min_evidence.keyboard,
        )
    }

    /// Ingests a batch of mouse events of one session; see [`Engine::ingest_keyboard`].
    ///
    /// # Errors
    ///
    /// As [`Engine::ingest_keyboard`].
    pub fn ingest_mouse(&self, user: &str, session: u64, events: &[M::Event]) -> Result<()> {
        self.check_enabled(M::NAME, self.config.modalities.mouse)?;
        self.ingest(
            user,
            session,
            events,
            |s| &mut s.mouse,
            |u| &mut u.enrolment.mouse,
            |t| &mut t.mouse,
            |m| m.mouse.as_ref(),
            &self.mouse,
            self.config.fusion.mouse,
            self.config.min_evidence.mouse,
        )
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "private helper shared by both modalities"
    )]
    fn ingest<X: Modality>(
        &self,
        user: &str,
        session: u64,
        events: &[X::Event],
        side_of: impl Fn(&mut SessionState<K, M>) -> &mut SideSession<X>,
        enrolment_of: impl Fn(&mut UserState<K, M>) -> &mut Vec<X::Action>,
        timings_of: impl Fn(&mut TimingStores) -> &mut TimingStore,
        model_of: impl Fn(&UserModel<K::Model, M::Model>) -> Option<&SideModel<X::Model>>,
        modality: &X,
        weight: f64,
        window_len: usize,
    ) -> Result<()> {
        let bad = |problem| Error::InvalidBatch {
            user: self.label(user),
            session,
            problem,
        };
        if events.is_empty() {
            return Err(bad(BatchProblem::Empty));
        }
        let max = self.config.limits.max_batch_events;
        if events.len() > max {
            return Err(bad(BatchProblem::TooLarge {
                len: events.len(),
                max,
            }));
        }
        let entry = self.user(user)?;
        let mut guard = lock(&entry);
        let state = &mut *guard;
        let last = state
            .sessions
            .get_mut(&session)
            .and_then(|s| side_of(s).last_event_us);
        validate::<X>(events, last).map_err(bad)?;

        let now = self.clock.now_us();
        self.make_room_for(state, session);
        let initial = self.config.trust.initial;
        state
            .sessions
            .entry(session)
            .or_insert_with(|| SessionState::new(initial, now));

        let mut actions = Vec::new();
        {
            let session_state = state
                .sessions
                .get_mut(&session)
                .expect("OK because inserted above");
            let side = side_of(session_state);
            for event in events {
                modality.extract(&mut side.extractor, event, &mut actions);
            }
            side.last_event_us = events.last().map(X::event_time_us);
        }

        let mut timings = Vec::new();
        let params = &self.config.trust;
        for action in &actions {
            let session_state = state
                .sessions
                .get_mut(&session)
                .expect("OK because inserted above");
            session_state.last_active_us = now;
            let mut track = session_state.track;
            let side = side_of(session_state);
            side.actions += 1;
            side.newest_us = Some(now);
            retain(
                &mut side.retained,
                action.clone(),
                self.config.limits.max_session_actions,
            );
            timings.clear();
            X::action_timings(action, &mut timings);
            let hash = side.rhythm.push(
                &self.config.defences,
                &self.hasher,
                X::NAME,
                X::action_time_us(action),
                &timings,
            );
            let tolerant_hit = side.rhythm.check_tolerant(
                timings_of(&mut state.timings),
                &self.config.defences,
                session,
                self.config.limits.max_replay_timings,
            );
            let side_update = match state.model.as_ref().and_then(&model_of) {
                // A non-finite raw score has no posterior, so the action counts as unscored.
                Some(side_model) => modality
                    .score(&side_model.current, action)
                    .filter(|raw| raw.is_finite())
                    .map(|raw| {
                        let posterior = side_model.calibration.posterior(raw);
                        let idle = Duration::from_micros(now.saturating_sub(track.at_us));
                        let before = params.decay(track.trust, idle);
                        let after =
                            (before + weight * params.delta(posterior)).clamp(0.0, params.max);
                        track.trust = after;
                        track.at_us = now;
                        track.locked |= after < params.lockout;
                        (posterior, after - before)
                    }),
                None => None,
            };
            if let Some((posterior, change)) = side_update {
                side.window.push(posterior, window_len);
                // A window completed after another factor passed ends that factor's vouching,
                // even if the window later goes stale. A window of fusion weight 0 never counts
                // in the window statistic, so it does not end the vouching.
                if weight > 0.0 && side.window.is_full(window_len) {
                    track.verified = false;
                }
                side.posterior_sum += posterior;
                side.scored += 1;
                side.contribution += change;
            }
            if let Some(hash) = hash {
                let capacity = self.config.limits.max_replay_hashes;
                match state.replay.check_and_insert(hash, session, capacity) {
                    ReplayCheck::Replayed => track.replay_hits += 1,
                    ReplayCheck::Stored => state.unsaved_hashes += 1,
                    ReplayCheck::Unchanged => {}
                }
            }
            if tolerant_hit {
                track.replay_hits += 1;
            }
            let session_state = state
                .sessions
                .get_mut(&session)
                .expect("OK because inserted above");
            session_state.track = track;
            if state.model.is_none() {
                let buffer = enrolment_of(state);
                if buffer.len() < self.config.limits.max_enrolment_actions {
                    buffer.push(action.clone());
                }
            }
        }
        let every = self.config.defences.replay_save_every;
        if every > 0 && state.unsaved_hashes >= every {
            self.save_during_ingestion(user, state);
        }
        Ok(())
    }

    /// Writes the user's file once ingestion has stored
    /// [`replay_save_every`](super::DefenceParams::replay_save_every) new replay hashes, so a
    /// crash does not lose those of sessions still open. A failed write does not fail the
    /// batch, which is already applied. It is logged, and the next attempt comes after as
    /// many hashes again, while `end_session` and `save_all` report their own failures.
    fn save_during_ingestion(&self, user: &str, state: &mut UserState<K, M>) {
        let (Some(store), Some(file)) = (&self.store, state.file.clone()) else {
            return;
        };
        if let Err(error) = self.save_state(store, &file, &Self::enrolment_header(), state) {
            state.unsaved_hashes = 0;
            tracing::warn!(
                user = %self.label(user),
                %error,
                "failed to write the user's file during ingestion, so the replay hashes stay in \
                 memory until a later write; check that the model directory is writable"
            );
        }
    }

    /// Drops the least recently active session when a new one would exceed the limit.
    fn make_room_for(&self, state: &mut UserState<K, M>, session: u64) {
        let limit = self.config.limits.max_sessions_per_user;
        if state.sessions.contains_key(&session) || state.sessions.len() < limit {
            return;
        }
        let oldest = state
            .sessions
            .iter()
            .min_by_key(|(id, s)| (s.last_active_us, **id));
        if let Some((&id, _)) = oldest {
            state.sessions.remove(&id);
        }
    }
}

/// Appends `action`, dropping the older half when `limit` is reached so that trimming costs
/// amortised O(1) per action.
fn retain<T>(kept: &mut Vec<T>, action: T, limit: usize) {
    if limit == 0 {
        return;
    }
    if kept.len() >= limit {
        kept.drain(..kept.len() / 2 + 1);
    }
    kept.push(action);
}

/// Checks timestamps of a batch: finite, not negative, and not earlier than the previous
/// event of the same modality in the session (`last`) or in the batch.
pub(super) fn validate<X: Modality>(
    events: &[X::Event],
    last: Option<f64>,
) -> std::result::Result<(), BatchProblem> {
    let mut previous = last;
    for (index, event) in events.iter().enumerate() {
        let value = X::event_time_us(event);
        if !value.is_finite() {
            return Err(BatchProblem::NonFiniteTimestamp { index, value });
        }
        if value < 0.0 {
            return Err(BatchProblem::NegativeTimestamp { index, value });
        }
        if let Some(previous_us) = previous
            && value < previous_us
        {
            return Err(BatchProblem::TimeWentBackwards {
                index,
                time_us: value,
                previous_us,
            });
        }
        previous = Some(value);
    }
    Ok(())
}
