//! The `kinetype.v1.Scoring` service: validate, convert, call the engine (CPU-heavy calls on
//! the blocking pool), convert back.

use std::sync::Arc;

use kinetype::engine::DefaultEngine;
use tokio::sync::{Semaphore, watch};
use tonic::metadata::MetadataValue;
use tonic::{Request, Response, Status, Streaming};

use crate::config::ServiceLimits;
use crate::convert;
use crate::failure::Failure;
use crate::gate::Gate;
use crate::proto;
use crate::proto::scoring_server::Scoring;

/// Batches with more events than this are ingested on the blocking pool; smaller ones take
/// less time than the hand-off and run in place.
const BLOCKING_BATCH_EVENTS: usize = 256;

/// Trailer of a failed Ingest stream: batches applied before the failing one.
pub const BATCHES_ACCEPTED_TRAILER: &str = "kinetype-batches-accepted";

/// The scoring service over one shared engine.
#[derive(Debug, Clone)]
pub(crate) struct ScoringService {
    pub(crate) engine: Arc<DefaultEngine>,
    pub(crate) limits: ServiceLimits,
    pub(crate) gate: Arc<Gate>,
    /// Permits for open streams, `limits.max_streams` in all.
    pub(crate) streams: Arc<Semaphore>,
    /// Becomes true when the server starts shutting down.
    pub(crate) draining: watch::Receiver<bool>,
}

/// Runs `work` on the blocking pool with a clone of the engine.
async fn blocking<T: Send + 'static>(
    engine: &Arc<DefaultEngine>,
    work: impl FnOnce(&DefaultEngine) -> Result<T, Failure> + Send + 'static,
) -> Result<T, Status> {
    let engine = engine.clone();
    match tokio::task::spawn_blocking(move || work(&engine)).await {
        Ok(result) => result.map_err(Status::from),
        Err(join) => {
            tracing::error!(error = %join, "engine task panicked or was cancelled");
            Err(Failure::Internal.into())
        }
    }
}

impl ScoringService {
    fn stream_permit(&self) -> Result<tokio::sync::OwnedSemaphorePermit, Status> {
        self.streams.clone().try_acquire_owned().map_err(|_| {
            Status::from(Failure::Limit {
                name: "max_streams",
                problem: format!(
                    "{} streams are open; retry when one closes",
                    self.limits.max_streams
                ),
            })
        })
    }

    /// Applies one batch; returns its event count.
    async fn ingest_batch(&self, request: proto::IngestRequest) -> Result<u64, Failure> {
        let (user, session) = convert::session_ref("session", request.session.as_ref())?;
        let user = user.to_owned();
        let max = self.limits.max_batch_events;
        let too_many = |len: usize| Failure::Limit {
            name: "max_batch_events",
            problem: format!("the batch has {len} events but at most {max} are accepted; split it"),
        };
        match request.batch {
            None => Err(Failure::invalid("batch", "missing; set keys or mouse")),
            Some(proto::ingest_request::Batch::Keys(batch)) => {
                let len = batch.events.len();
                if len == 0 {
                    return Err(Failure::invalid(
                        "keys.events",
                        "empty; send at least one event",
                    ));
                }
                if len > max {
                    return Err(too_many(len));
                }
                let events = convert::key_events("keys.events", &batch.events)?;
                let run = move |engine: &DefaultEngine| {
                    engine
                        .ingest_keyboard(&user, session, &events)
                        .map_err(|e| Failure::from(e).in_batch("keys.events"))
                };
                self.run_sized(len, run).await?;
                Ok(len as u64)
            }
            Some(proto::ingest_request::Batch::Mouse(batch)) => {
                let len = batch.events.len();
                if len == 0 {
                    return Err(Failure::invalid(
                        "mouse.events",
                        "empty; send at least one event",
                    ));
                }
                if len > max {
                    return Err(too_many(len));
                }
                let events = convert::mouse_events("mouse.events", &batch.events)?;
                let run = move |engine: &DefaultEngine| {
                    engine
                        .ingest_mouse(&user, session, &events)
                        .map_err(|e| Failure::from(e).in_batch("mouse.events"))
                };
                self.run_sized(len, run).await?;
                Ok(len as u64)
            }
        }
    }

    /// Runs `work` in place for small batches and on the blocking pool for big ones.
    async fn run_sized(
        &self,
        events: usize,
        work: impl FnOnce(&DefaultEngine) -> Result<(), Failure> + Send + 'static,
    ) -> Result<(), Failure> {
        if events <= BLOCKING_BATCH_EVENTS {
            return work(&self.engine);
        }
        let engine = self.engine.clone();
        match tokio::task::spawn_blocking(move || work(&engine)).await {
            Ok(result) => result,
            Err(join) => {
                tracing::error!(error = %join, "ingest task panicked or was cancelled");
                Err(Failure::Internal)
            }
        }
    }
}

#[tonic::async_trait]
impl Scoring for ScoringService {
    async fn begin_enrollment(
        &self,
        request: Request<proto::BeginEnrollmentRequest>,
    ) -> Result<Response<proto::BeginEnrollmentResponse>, Status> {
        let request = request.into_inner();
        let user = convert::user_id("user", &request.user)?;
        self.engine.begin_enrolment(user).map_err(Failure::from)?;
        Ok(Response::new(proto::BeginEnrollmentResponse {}))
    }

    async fn ingest(
        &self,
        request: Request<Streaming<proto::IngestRequest>>,
    ) -> Result<Response<proto::IngestResponse>, Status> {
        let _permit = self.stream_permit()?;
        let peer = request.remote_addr().map(|a| a.ip());
        let mut stream = request.into_inner();
        let mut draining = self.draining.clone();
        let mut ack = proto::IngestResponse::default();
        loop {
            // Shutdown is checked first, so a busy stream cannot delay it; a batch that was
            // already read is applied whole before the check runs again.
            let next = tokio::select! {
                biased;
                _ = draining.wait_for(|d| *d) => {
                    ack.server_shutting_down = true;
                    break;
                }
                next = stream.message() => next,
            };
            let batch = match next {
                Ok(Some(batch)) => batch,
                Ok(None) => break,
                Err(status) => {
                    return Err(with_accepted(stream_status(status), ack.batches_accepted));
                }
            };
            if let Err(status) = self.gate.take_rate(peer) {
                return Err(with_accepted(status, ack.batches_accepted));
            }
            match self.ingest_batch(batch).await {
                Ok(events) => {
                    ack.batches_accepted += 1;
                    ack.events_accepted += events;
                }
                Err(failure) => {
                    let status = Status::from(failure);
                    let status = Status::new(
                        status.code(),
                        format!("batch {}: {}", ack.batches_accepted, status.message()),
                    );
                    return Err(with_accepted(status, ack.batches_accepted));
                }
            }
        }
        Ok(Response::new(ack))
    }

    async fn enrollment_status(
        &self,
        request: Request<proto::EnrollmentStatusRequest>,
    ) -> Result<Response<proto::EnrollmentStatusResponse>, Status> {
        let request = request.into_inner();
        let user = convert::user_id("user", &request.user)?;
        let status = self.engine.enrolment_status(user).map_err(Failure::from)?;
        Ok(Response::new(convert::enrolment_status(status)))
    }

    async fn add_background_session(
        &self,
        request: Request<Streaming<proto::BackgroundChunk>>,
    ) -> Result<Response<proto::AddBackgroundSessionResponse>, Status> {
        let _permit = self.stream_permit()?;
        let peer = request.remote_addr().map(|a| a.ip());
        let mut stream = request.into_inner();
        let max = self.limits.max_background_events;
        let (mut keys, mut mouse) = (Vec::new(), Vec::new());
        let mut person: Option<String> = None;
        while let Some(chunk) = stream.message().await.map_err(stream_status)? {
            self.gate.take_rate(peer)?;
            if !chunk.person.is_empty() {
                if chunk.person.len() > convert::MAX_USER_ID_BYTES {
                    return Err(Failure::invalid(
                        "person",
                        format!(
                            "the person has {} bytes but at most {} are accepted",
                            chunk.person.len(),
                            convert::MAX_USER_ID_BYTES
                        ),
                    )
                    .into());
                }
                match &person {
                    Some(first) if *first != chunk.person => {
                        return Err(Failure::invalid(
                            "person",
                            "differs from an earlier chunk's person; set it once or repeat it",
                        )
                        .into());
                    }
                    _ => person = Some(chunk.person),
                }
            }
            let total =
                keys.len() + mouse.len() + chunk.key_events.len() + chunk.mouse_events.len();
            if total > max {
                return Err(Failure::Limit {
                    name: "max_background_events",
                    problem: format!("the session has over {max} events"),
                }
                .into());
            }
            let first_key = keys.len();
            keys.extend(
                convert::key_events("key_events", &chunk.key_events)
                    .map_err(|f| offset_note(f, first_key))?,
            );
            let first_mouse = mouse.len();
            mouse.extend(
                convert::mouse_events("mouse_events", &chunk.mouse_events)
                    .map_err(|f| offset_note(f, first_mouse))?,
            );
        }
        if keys.is_empty() && mouse.is_empty() {
            return Err(Failure::invalid("key_events", "the session has no events").into());
        }
        let events = (keys.len() + mouse.len()) as u64;
        tracing::info!(
            key_events = keys.len(),
            mouse_events = mouse.len(),
            "background session received"
        );
        blocking(&self.engine, move |engine| {
            match &person {
                Some(person) => engine.add_background_session_of(person, &keys, &mouse),
                None => engine.add_background_session(&keys, &mouse),
            }
            .map_err(Failure::from)
        })
        .await?;
        Ok(Response::new(proto::AddBackgroundSessionResponse {
            events,
        }))
    }

    async fn finish_enrollment(
        &self,
        request: Request<proto::FinishEnrollmentRequest>,
    ) -> Result<Response<proto::FinishEnrollmentResponse>, Status> {
        let request = request.into_inner();
        let user = convert::user_id("user", &request.user)?.to_owned();
        let report = blocking(&self.engine, move |engine| {
            engine.finish_enrolment(&user).map_err(Failure::from)
        })
        .await?;
        tracing::info!(
            allow_threshold = report.allow_threshold,
            impostor_allow_rate = report.impostor_allow_rate,
            "enrolment finished"
        );
        Ok(Response::new(convert::enrolment_report(report)))
    }

    async fn score(
        &self,
        request: Request<proto::SessionRef>,
    ) -> Result<Response<proto::ScoreResponse>, Status> {
        let request = request.into_inner();
        let (user, session) = convert::session_ref("session", Some(&request))?;
        let score = self.engine.score(user, session).map_err(Failure::from)?;
        Ok(Response::new(convert::score(&score)))
    }

    async fn decide(
        &self,
        request: Request<proto::SessionRef>,
    ) -> Result<Response<proto::DecideResponse>, Status> {
        let request = request.into_inner();
        let (user, session) = convert::session_ref("session", Some(&request))?;
        let decision = self.engine.decide(user, session).map_err(Failure::from)?;
        Ok(Response::new(convert::decision(&decision)))
    }

    async fn report_success(
        &self,
        request: Request<proto::SessionRef>,
    ) -> Result<Response<proto::ReportSuccessResponse>, Status> {
        let request = request.into_inner();
        let (user, session) = convert::session_ref("session", Some(&request))?;
        let user = user.to_owned();
        // Adaptation refits a template and writes the model file.
        let adapted = blocking(&self.engine, move |engine| {
            engine.report_success(&user, session).map_err(Failure::from)
        })
        .await?;
        Ok(Response::new(proto::ReportSuccessResponse {
            keyboard_adapted: adapted.keyboard,
            mouse_adapted: adapted.mouse,
        }))
    }

    async fn end_session(
        &self,
        request: Request<proto::SessionRef>,
    ) -> Result<Response<proto::EndSessionResponse>, Status> {
        let request = request.into_inner();
        let (user, session) = convert::session_ref("session", Some(&request))?;
        let user = user.to_owned();
        // Ending a session may write the user's model file.
        blocking(&self.engine, move |engine| {
            engine.end_session(&user, session).map_err(Failure::from)
        })
        .await?;
        Ok(Response::new(proto::EndSessionResponse {}))
    }

    async fn save_models(
        &self,
        _request: Request<proto::SaveModelsRequest>,
    ) -> Result<Response<proto::SaveModelsResponse>, Status> {
        let users_saved = blocking(&self.engine, |engine| {
            crate::server::save_all(engine).map_err(Failure::from)
        })
        .await?;
        Ok(Response::new(proto::SaveModelsResponse { users_saved }))
    }
}

/// Maps a stream read error: tonic's message-size check reports OUT_OF_RANGE, which this
/// service reports as RESOURCE_EXHAUSTED like every other limit.
fn stream_status(status: Status) -> Status {
    if status.code() == tonic::Code::OutOfRange {
        return Status::resource_exhausted(format!(
            "limit max_message_bytes: {}",
            status.message()
        ));
    }
    status
}

/// Adds the count of applied batches to a failed Ingest stream's trailers.
fn with_accepted(mut status: Status, accepted: u64) -> Status {
    status
        .metadata_mut()
        .insert(BATCHES_ACCEPTED_TRAILER, MetadataValue::from(accepted));
    status
}

/// Notes in an error about a background chunk how many events came before the chunk.
fn offset_note(failure: Failure, offset: usize) -> Failure {
    match failure {
        Failure::InvalidField { field, problem } => Failure::InvalidField {
            field,
            problem: format!("{problem} (index within the chunk; {offset} events came before it)"),
        },
        other => other,
    }
}
