//! Service configuration: the engine's operating point and the server's request limits, read
//! from an optional TOML file.

use std::path::Path;
use std::time::Duration;

use kinetype::engine::{EngineConfig, Evidence, Modalities};
use serde::{Deserialize, Deserializer};

use crate::ServeError;

/// Everything `kinetype serve --config FILE` reads; every field has a default, so an empty
/// file (or no file) is valid.
///
/// # Example
///
/// ```
/// let config = kinetype_grpc::ServiceConfig::from_toml(
///     "target_fmr = 0.02\n[limits]\nrate_per_second = 500\n",
/// )
/// .unwrap();
/// assert_eq!(config.target_fmr, 0.02);
/// assert_eq!(config.limits.rate_per_second, 500);
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceConfig {
    /// Modalities the engine uses; events of a disabled one get `FAILED_PRECONDITION`.
    pub modalities: ModalitySetting,
    /// Largest acceptable fraction of impostor decisions that allow, in (0, 1).
    pub target_fmr: f64,
    /// Actions per modality needed to finish enrolment.
    #[serde(deserialize_with = "enrolment_evidence")]
    pub enrolment_evidence: EvidenceSetting,
    /// Actions per modality a session needs before that modality counts toward a decision.
    #[serde(deserialize_with = "min_evidence")]
    pub min_evidence: EvidenceSetting,
    /// Seconds after which a session's evidence no longer counts.
    pub max_evidence_age_seconds: u64,
    /// Request limits.
    pub limits: ServiceLimits,
    /// Whether the health service also requires the bearer token. Off by default so that
    /// orchestrators without the token can probe the server.
    pub guard_health: bool,
    /// Mouse model: `two-class` (the default, fitted against the background people) or
    /// `one-class` (the user's own actions only). The one-class model is for deployments that
    /// may not fit a user's model on other people's data. It allows almost no genuine session
    /// at a 1 % target.
    pub mouse_model: MouseModelSetting,
    /// New replay hashes that ingestion stores for a user before it writes the user's file,
    /// so that a crash loses at most this many. 0 leaves the writes to session ends, shutdown,
    /// enrolment and adaptation.
    pub replay_save_every: usize,
}

/// The mouse model a server fits at enrolment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MouseModelSetting {
    /// A booster of the user's actions against the background people's.
    #[default]
    TwoClass,
    /// A robust z model of the user's own actions.
    OneClass,
}

/// Switches for the keyboard and mouse modalities, of which at least one must be on. A key missing from
/// the `[modalities]` table takes the engine's default (on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModalitySetting {
    /// Whether keyboard events are used.
    pub keyboard: bool,
    /// Whether mouse events are used.
    pub mouse: bool,
}

impl Default for ModalitySetting {
    fn default() -> Self {
        let on = Modalities::default();
        ModalitySetting {
            keyboard: on.keyboard,
            mouse: on.mouse,
        }
    }
}

/// An amount of evidence per modality, in actions (keystrokes, mouse actions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceSetting {
    /// Keyboard actions.
    pub keyboard: usize,
    /// Mouse actions.
    pub mouse: usize,
}

/// An evidence table as written in the file. The two evidence tables have different
/// defaults, so a missing key is filled in by the field's deserializer, not by `Default`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EvidenceTable {
    keyboard: Option<usize>,
    mouse: Option<usize>,
}

impl EvidenceTable {
    /// Fills each missing key from `defaults`.
    fn with_defaults(self, defaults: Evidence) -> EvidenceSetting {
        EvidenceSetting {
            keyboard: self.keyboard.unwrap_or(defaults.keyboard),
            mouse: self.mouse.unwrap_or(defaults.mouse),
        }
    }
}

/// Reads `[enrolment_evidence]`, where a missing key takes the engine's default.
fn enrolment_evidence<'de, D: Deserializer<'de>>(d: D) -> Result<EvidenceSetting, D::Error> {
    let defaults = EngineConfig::new(Vec::new()).enrolment_evidence;
    Ok(EvidenceTable::deserialize(d)?.with_defaults(defaults))
}

/// Reads `[min_evidence]`, where a missing key takes the engine's default.
fn min_evidence<'de, D: Deserializer<'de>>(d: D) -> Result<EvidenceSetting, D::Error> {
    let defaults = EngineConfig::new(Vec::new()).min_evidence;
    Ok(EvidenceTable::deserialize(d)?.with_defaults(defaults))
}

/// Request limits; a request that exceeds one gets `RESOURCE_EXHAUSTED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceLimits {
    /// Largest encoded request or response message in bytes.
    pub max_message_bytes: usize,
    /// Largest number of events in one ingested batch.
    pub max_batch_events: usize,
    /// Largest number of streaming calls (Ingest, AddBackgroundSession) open at once across
    /// all clients.
    pub max_streams: usize,
    /// Largest number of events in one background session.
    pub max_background_events: usize,
    /// Sustained requests per second per client IP address; each RPC and each streamed message
    /// counts as one. 0 turns rate limiting off.
    pub rate_per_second: u32,
    /// Requests a client IP address may send at once above the sustained rate.
    pub rate_burst: u32,
    /// Seconds that in-flight calls get to finish after a shutdown signal before they are
    /// cancelled and the models are saved.
    pub shutdown_grace_seconds: u64,
}

impl Default for ServiceLimits {
    /// 4 MiB messages (the gRPC default), 10,000 events a batch (the engine's default), 1,024
    /// open streams, 5,000,000 background events, 1,000 requests per second with a burst of
    /// 2,000 per client IP, 30 s of shutdown grace.
    fn default() -> Self {
        ServiceLimits {
            max_message_bytes: 4 * 1024 * 1024,
            max_batch_events: 10_000,
            max_streams: 1024,
            max_background_events: kinetype::limits::MAX_MOUSE_EVENTS,
            rate_per_second: 1000,
            rate_burst: 2000,
            shutdown_grace_seconds: 30,
        }
    }
}

impl Default for ServiceConfig {
    /// Returns the engine's defaults (see [`EngineConfig::new`]) and [`ServiceLimits::default`].
    fn default() -> Self {
        let engine = EngineConfig::new(Vec::new());
        ServiceConfig {
            modalities: ModalitySetting {
                keyboard: engine.modalities.keyboard,
                mouse: engine.modalities.mouse,
            },
            target_fmr: engine.target_fmr,
            enrolment_evidence: engine.enrolment_evidence.into(),
            min_evidence: engine.min_evidence.into(),
            max_evidence_age_seconds: engine.max_evidence_age.as_secs(),
            limits: ServiceLimits::default(),
            guard_health: false,
            mouse_model: MouseModelSetting::TwoClass,
            replay_save_every: engine.defences.replay_save_every,
        }
    }
}

impl From<Evidence> for EvidenceSetting {
    fn from(e: Evidence) -> Self {
        EvidenceSetting {
            keyboard: e.keyboard,
            mouse: e.mouse,
        }
    }
}

impl From<EvidenceSetting> for Evidence {
    fn from(e: EvidenceSetting) -> Self {
        Evidence {
            keyboard: e.keyboard,
            mouse: e.mouse,
        }
    }
}

impl ServiceConfig {
    /// Parses a TOML configuration.
    ///
    /// # Errors
    ///
    /// [`ServeError::Config`] for invalid TOML, an unknown key or a value of the wrong type.
    pub fn from_toml(text: &str) -> Result<Self, ServeError> {
        toml::from_str(text).map_err(|e| ServeError::Config {
            path: None,
            problem: e.to_string(),
        })
    }

    /// Reads and parses a TOML configuration file.
    ///
    /// # Errors
    ///
    /// [`ServeError::Config`] naming the file when it cannot be read or parsed.
    pub fn from_file(path: &Path) -> Result<Self, ServeError> {
        let text = std::fs::read_to_string(path).map_err(|e| ServeError::Config {
            path: Some(path.to_owned()),
            problem: e.to_string(),
        })?;
        toml::from_str(&text).map_err(|e| ServeError::Config {
            path: Some(path.to_owned()),
            problem: e.to_string(),
        })
    }

    /// Builds the engine configuration, with models in `model_dir` and hashes keyed by
    /// `secret`, and checks it and the limits.
    ///
    /// # Errors
    ///
    /// [`ServeError::Engine`] with [`kinetype::Error::InvalidParameter`] naming the first
    /// invalid engine field, [`ServeError::Config`] for a zero limit.
    pub fn engine_config(
        &self,
        model_dir: &Path,
        secret: &[u8],
    ) -> Result<EngineConfig, ServeError> {
        let l = &self.limits;
        for (name, value) in [
            ("limits.max_message_bytes", l.max_message_bytes),
            ("limits.max_batch_events", l.max_batch_events),
            ("limits.max_streams", l.max_streams),
            ("limits.max_background_events", l.max_background_events),
            (
                "limits.shutdown_grace_seconds",
                l.shutdown_grace_seconds as usize,
            ),
        ] {
            if value == 0 {
                return Err(ServeError::Config {
                    path: None,
                    problem: format!("{name} is 0; it must be at least 1"),
                });
            }
        }
        if l.rate_per_second > 0 && l.rate_burst == 0 {
            return Err(ServeError::Config {
                path: None,
                problem:
                    "limits.rate_burst is 0; it must be at least 1 when rate_per_second is set"
                        .into(),
            });
        }
        let mut config = EngineConfig::new(secret.to_vec());
        config.model_dir = Some(model_dir.to_owned());
        config.modalities = Modalities {
            keyboard: self.modalities.keyboard,
            mouse: self.modalities.mouse,
        };
        config.target_fmr = self.target_fmr;
        config.enrolment_evidence = self.enrolment_evidence.into();
        config.min_evidence = self.min_evidence.into();
        config.max_evidence_age = Duration::from_secs(self.max_evidence_age_seconds);
        config.limits.max_batch_events = l.max_batch_events;
        config.defences.replay_save_every = self.replay_save_every;
        config.check()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_defaults() {
        assert_eq!(
            ServiceConfig::from_toml("").unwrap(),
            ServiceConfig::default()
        );
    }

    #[test]
    fn partial_tables_take_defaults() {
        let text = "[modalities]\nkeyboard = false\n\
                    [enrolment_evidence]\nmouse = 10\n\
                    [min_evidence]\nkeyboard = 5\n";
        let config = ServiceConfig::from_toml(text).unwrap();
        let defaults = ServiceConfig::default();
        assert!(!config.modalities.keyboard);
        assert_eq!(config.modalities.mouse, defaults.modalities.mouse);
        assert_eq!(config.enrolment_evidence.mouse, 10);
        assert_eq!(
            config.enrolment_evidence.keyboard,
            defaults.enrolment_evidence.keyboard
        );
        assert_eq!(config.min_evidence.keyboard, 5);
        assert_eq!(config.min_evidence.mouse, defaults.min_evidence.mouse);
    }

    #[test]
    fn empty_tables_take_defaults() {
        let text = "[modalities]\n[enrolment_evidence]\n[min_evidence]\n";
        assert_eq!(
            ServiceConfig::from_toml(text).unwrap(),
            ServiceConfig::default()
        );
    }

    #[test]
    fn unknown_evidence_key_is_rejected() {
        let err = ServiceConfig::from_toml("[min_evidence]\nkeybord = 5").unwrap_err();
        assert!(err.to_string().contains("keybord"), "{err}");
    }

    #[test]
    fn mouse_model_is_read() {
        let config = ServiceConfig::from_toml("mouse_model = \"one-class\"").unwrap();
        assert_eq!(config.mouse_model, MouseModelSetting::OneClass);
        let config = ServiceConfig::from_toml("").unwrap();
        assert_eq!(config.mouse_model, MouseModelSetting::TwoClass);
        let err = ServiceConfig::from_toml("mouse_model = \"forest\"").unwrap_err();
        assert!(err.to_string().contains("forest"), "{err}");
    }

    #[test]
    fn replay_save_every_reaches_the_engine() {
        let default = ServiceConfig::default()
            .engine_config(Path::new("models"), b"0123456789abcdef")
            .unwrap();
        assert_eq!(default.defences.replay_save_every, 1_000);
        for value in [0, 25] {
            let config =
                ServiceConfig::from_toml(&format!("replay_save_every = {value}\n")).unwrap();
            assert_eq!(config.replay_save_every, value);
            let engine = config
                .engine_config(Path::new("models"), b"0123456789abcdef")
                .unwrap();
            assert_eq!(engine.defences.replay_save_every, value);
        }
        let error = ServiceConfig::from_toml("replay_save_every = -1\n").unwrap_err();
        assert!(error.to_string().contains("replay_save_every"), "{error}");
    }

    #[test]
    fn unknown_key_is_rejected() {
        let err = ServiceConfig::from_toml("target_fmrr = 0.1").unwrap_err();
        assert!(err.to_string().contains("target_fmrr"), "{err}");
    }

    #[test]
    fn wrong_type_is_rejected() {
        let err = ServiceConfig::from_toml("[limits]\nmax_streams = \"many\"").unwrap_err();
        assert!(err.to_string().contains("max_streams"), "{err}");
    }

    #[test]
    fn invalid_engine_value_names_field() {
        let config = ServiceConfig::from_toml("target_fmr = 1.5").unwrap();
        let err = config
            .engine_config(Path::new("/nonexistent"), &[7; 32])
            .unwrap_err();
        assert!(err.to_string().contains("target_fmr"), "{err}");
    }

    #[test]
    fn no_modality_is_rejected() {
        let text = "[modalities]\nkeyboard = false\nmouse = false\n";
        let config = ServiceConfig::from_toml(text).unwrap();
        let err = config
            .engine_config(Path::new("/nonexistent"), &[7; 32])
            .unwrap_err();
        assert!(err.to_string().contains("modalities"), "{err}");
    }

    #[test]
    fn zero_limit_names_field() {
        let config = ServiceConfig::from_toml("[limits]\nmax_streams = 0").unwrap();
        let err = config
            .engine_config(Path::new("/nonexistent"), &[7; 32])
            .unwrap_err();
        assert!(err.to_string().contains("limits.max_streams"), "{err}");
    }
}
