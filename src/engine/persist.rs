//! Loading users from the model store and saving every in-memory user for a restart.
//!
//! A user's file contains one of two records under the same keyed-hash name: the [`UserModel`]
//! of an enrolled user (kind `engine/<keyboard>+<mouse>`), or the collected actions of a user
//! still enrolling (kind `enrolling/<keyboard>+<mouse>`, [`EnrolmentRecord`]). Finishing
//! enrolment replaces the second with the first. Sessions are never stored.

use super::modality::Modality;
use super::state::{
    EnrolmentRecord, EnrolmentRecordRef, UserModel, UserModelV1, UserModelV2, UserState, lock,
    side_names,
};
use super::{Engine, MODEL_LAYOUT, ModelOf};
use crate::error::{Error, ModelFileProblem, Result};
use crate::store::{Header, ModelStore};

impl<K: Modality, M: Modality> Engine<K, M> {
    /// Returns the envelope header of the files of users still enrolling: the kind names both
    /// modalities, and the schema hash covers both feature schemas and the record layout
    /// (`enrolment-record/v1`).
    pub fn enrolment_header() -> Header {
        Self::enrolment_header_for(K::SCHEMA, M::SCHEMA)
    }

    /// Returns the header of enrolment records whose modalities had the schema texts
    /// `keyboard` and `mouse`.
    fn enrolment_header_for(keyboard: &str, mouse: &str) -> Header {
        let kind = format!("enrolling/{}+{}", K::NAME, M::NAME);
        Header::new(&kind, &format!("{keyboard}\n{mouse}\nenrolment-record/v1"))
    }

    /// Returns the pairs of keyboard and mouse schema texts other than the current pair under
    /// which files were written that this build still reads (see [`Modality::EARLIER_SCHEMA`]).
    fn earlier_schema_pairs() -> Vec<(&'static str, &'static str)> {
        let keyboard = [Some(K::SCHEMA), K::EARLIER_SCHEMA];
        let mouse = [Some(M::SCHEMA), M::EARLIER_SCHEMA];
        let mut pairs = Vec::new();
        for k in keyboard.into_iter().flatten() {
            for m in mouse.into_iter().flatten() {
                if (k, m) != (K::SCHEMA, M::SCHEMA) {
                    pairs.push((k, m));
                }
            }
        }
        pairs
    }

    /// Writes the durable state of every user in memory to the model store and returns how
    /// many users were written.
    ///
    /// An enrolled user's file gets the model with the current replay hashes, so a restart
    /// keeps detecting replays of sessions seen since the last save. A user still enrolling
    /// gets the collected enrolment actions and replay hashes, so enrolment continues after a
    /// restart. Each file is replaced atomically (see [`ModelStore::save`]): a crash leaves
    /// every user's file in its old or its new state. Session trust is not saved, so a restart
    /// ends every session, which fails safe: each session gets `StepUp` until fresh evidence
    /// arrives. Users added while the call runs may be missed.
    ///
    /// Each user's lock is held while that user's file is written, so ingestion for that user
    /// waits for one file write.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] (`model_dir`) when the engine has no model directory;
    /// [`Error::Io`] for the first file that cannot be written. Users before it are saved, the
    /// rest are not, and the call can be repeated.
    pub fn save_all(&self) -> Result<usize> {
        let Some(store) = &self.store else {
            return Err(Error::InvalidParameter {
                name: "model_dir",
                value: "None".into(),
                expected: "a model directory, to save users",
            });
        };
        let enrolment_header = Self::enrolment_header();
        let mut written = 0;
        for entry in self.users.entries() {
            let mut guard = lock(&entry);
            let state = &mut *guard;
            let Some(file) = state.file.clone() else {
                continue;
            };
            self.save_state(store, &file, &enrolment_header, state)?;
            written += 1;
        }
        tracing::info!(users = written, "all users saved");
        Ok(written)
    }

    /// Writes one user's durable state to `file`: the model with the current replay hashes, or
    /// the record of an enrolment in progress. On failure the model keeps its previous hashes.
    pub(super) fn save_state(
        &self,
        store: &ModelStore,
        file: &std::path::Path,
        enrolment_header: &Header,
        state: &mut UserState<K, M>,
    ) -> Result<()> {
        let replay_hashes = state.replay.to_pairs();
        match state.model.as_mut() {
            Some(model) => {
                let previous = std::mem::replace(&mut model.replay_hashes, replay_hashes);
                if let Err(error) = store.save_to(file, &self.header, &*model) {
                    model.replay_hashes = previous;
                    return Err(error);
                }
            }
            None => {
                let record = EnrolmentRecordRef {
                    keyboard: &state.enrolment.keyboard,
                    mouse: &state.enrolment.mouse,
                    replay_hashes,
                };
                store.save_to(file, enrolment_header, &record)?;
            }
        }
        state.unsaved_hashes = 0;
        Ok(())
    }

    /// Loads `user`'s file: a model (converting the `user-model/v1` and `v2` layouts, see
    /// [`UserModelV2`], and files of an earlier schema text, see
    /// [`Modality::EARLIER_SCHEMA`]) or the record of an enrolment in progress. A model must
    /// match the enabled modalities.
    pub(super) fn load_user(
        &self,
        store: &ModelStore,
        user: &str,
    ) -> Result<Option<UserState<K, M>>> {
        let file = Some(store.path_for(user));
        let model = match store.load::<ModelOf<K, M>>(user, &self.header) {
            Err(current) if is_schema_mismatch(&current) => {
                match self.load_earlier_schemas(store, user)? {
                    Some(model) => model,
                    None => self.load_older_layout(store, user, current)?,
                }
            }
            Err(Error::ModelFile {
                problem: ModelFileProblem::WrongKind { found, .. },
                ..
            }) if found == Self::enrolment_header().kind => {
                let record = self.load_enrolment_record(store, user)?;
                tracing::debug!(user = %self.label(user), "enrolment record loaded");
                return Ok(record.map(|r| UserState::from_enrolment(r, file)));
            }
            other => other?,
        };
        let Some(model) = model else {
            return Ok(None);
        };
        let on = self.config.modalities;
        if model.keyboard.is_some() != on.keyboard || model.mouse.is_some() != on.mouse {
            return Err(Error::ModelFile {
                path: store.path_for(user),
                problem: ModelFileProblem::ModalityMismatch {
                    stored: model.sides().to_owned(),
                    enabled: side_names(on.keyboard, on.mouse).to_owned(),
                },
            });
        }
        tracing::debug!(user = %self.label(user), "model loaded");
        Ok(Some(UserState::from_model(model, file)))
    }

    /// Loads `user`'s model file written in the current layout under an earlier schema text
    /// of one or both modalities, and converts it. `Ok(None)` when the file matches no such
    /// schema; an error when it matches one but cannot be read.
    fn load_earlier_schemas(
        &self,
        store: &ModelStore,
        user: &str,
    ) -> Result<Option<Option<ModelOf<K, M>>>> {
        let model = Self::first_earlier_match(|keyboard, mouse| {
            let header = Self::header_for_schemas(keyboard, mouse, MODEL_LAYOUT);
            // Each side is read as the earlier model type only when its schema text is the
            // earlier one.
            match (keyboard == K::SCHEMA, mouse == M::SCHEMA) {
                (true, false) => store
                    .load::<UserModel<K::Model, M::EarlierModel>>(user, &header)
                    .map(|m| m.map(UserModel::convert)),
                (false, true) => store
                    .load::<UserModel<K::EarlierModel, M::Model>>(user, &header)
                    .map(|m| m.map(UserModel::convert)),
                _ => store
                    .load::<UserModel<K::EarlierModel, M::EarlierModel>>(user, &header)
                    .map(|m| m.map(UserModel::convert)),
            }
        })?;
        if let Some(Some(_)) = &model {
            tracing::info!(
                user = %self.label(user),
                "model read under an earlier schema text and converted; it scores as before \
                 and is written in the current schema at the next save"
            );
        }
        Ok(model)
    }

    /// Calls `load` with each pair of [`Self::earlier_schema_pairs`] until one matches the
    /// file, and returns that result. `Ok(None)` when every pair gives a schema mismatch.
    fn first_earlier_match<T>(
        mut load: impl FnMut(&str, &str) -> Result<Option<T>>,
    ) -> Result<Option<Option<T>>> {
        for (keyboard, mouse) in Self::earlier_schema_pairs() {
            match load(keyboard, mouse) {
                Err(error) if is_schema_mismatch(&error) => continue,
                Err(error) => return Err(error),
                Ok(found) => return Ok(Some(found)),
            }
        }
        Ok(None)
    }

    /// Loads `user`'s model file in an older layout ([`UserModelV2`], [`UserModelV1`]) and
    /// converts it, or returns `current`, the schema mismatch with the current layout, when
    /// the file matches none.
    fn load_older_layout(
        &self,
        store: &ModelStore,
        user: &str,
        current: Error,
    ) -> Result<Option<ModelOf<K, M>>> {
        let v2 = Self::model_header_v2();
        let v1 = Self::model_header_v1();
        let old = match store.load::<UserModelV2<K::Model, M::Model>>(user, &v2) {
            Ok(old) => old.map(|m| (m, "v2")),
            Err(_) => match store.load::<UserModelV1<K::Model, M::Model>>(user, &v1) {
                Ok(old) => old.map(|m| (UserModelV2::from(m), "v1")),
                Err(_) => return Err(current),
            },
        };
        if let Some((_, layout)) = &old {
            // Older layouts store a trust threshold, which carries no information about
            // window statistics, so the converted model never allows (fail safe).
            tracing::warn!(
                user = %self.label(user),
                layout,
                "model converted from an older layout without an allow threshold; \
                 this user's sessions get StepUp until the user enrols again"
            );
        }
        Ok(old.map(|(m, _)| UserModel::from(m)))
    }

    /// Loads `user`'s enrolment record, written under the current schema texts or an earlier
    /// one (whose actions are the same, see [`Modality::EARLIER_SCHEMA`]). A record that
    /// matches no schema reports the mismatch with the current one.
    fn load_enrolment_record(
        &self,
        store: &ModelStore,
        user: &str,
    ) -> Result<Option<EnrolmentRecord<K::Action, M::Action>>> {
        let current = match store.load(user, &Self::enrolment_header()) {
            Err(error) if is_schema_mismatch(&error) => error,
            other => return other,
        };
        let record = Self::first_earlier_match(|keyboard, mouse| {
            store.load(user, &Self::enrolment_header_for(keyboard, mouse))
        })?;
        match record {
            Some(record) => {
                if record.is_some() {
                    tracing::info!(
                        user = %self.label(user),
                        "enrolment record read under an earlier schema text"
                    );
                }
                Ok(record)
            }
            None => Err(current),
        }
    }
}

/// Tells whether `error` is a model file whose schema hash matches none expected.
fn is_schema_mismatch(error: &Error) -> bool {
    matches!(
        error,
        Error::ModelFile {
            problem: ModelFileProblem::SchemaMismatch { .. },
            ..
        }
    )
}
