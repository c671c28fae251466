//! Raw input events as an agent records them.

use serde::{Deserialize, Serialize};

/// Whether a key went down or came up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KeyAction {
    /// The key went down.
    Press,
    /// The key came up.
    Release,
}

/// One key transition.
///
/// `code` is a physical key code (for example a USB HID usage or a browser `keyCode`); kinetype
/// never needs the character the key produced. Timestamps are microseconds on any monotonic
/// clock; only differences between them are used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct KeyEvent {
    /// Physical key code.
    pub code: u32,
    /// Press or release.
    pub action: KeyAction,
    /// Timestamp in microseconds.
    pub time_us: i64,
}

impl KeyEvent {
    /// A key press at `time_us` microseconds.
    pub fn press(code: u32, time_us: i64) -> Self {
        KeyEvent {
            code,
            action: KeyAction::Press,
            time_us,
        }
    }

    /// A key release at `time_us` microseconds.
    pub fn release(code: u32, time_us: i64) -> Self {
        KeyEvent {
            code,
            action: KeyAction::Release,
            time_us,
        }
    }
}
