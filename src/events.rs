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

/// The mouse button involved in a [`MouseEvent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MouseButton {
    /// No button: plain moves and wheel events.
    None,
    /// The primary (left) button.
    Left,
    /// The secondary (right) button.
    Right,
    /// The middle button or wheel click.
    Middle,
    /// Any other button, such as the side buttons X1 and X2.
    Other,
}

/// Kind of a [`MouseEvent`]: move, press, release, drag or scroll.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MouseKind {
    /// The cursor moved with no button held.
    Move,
    /// A button went down.
    Press,
    /// A button came up.
    Release,
    /// The cursor moved while a button was held.
    Drag,
    /// The wheel turned; the position is where the cursor was.
    Scroll,
}

/// One mouse event.
///
/// Positions are screen pixels with the origin at the top-left corner and y growing downwards.
/// Timestamps are milliseconds on any clock of the recording client, and only differences
/// between them are used. Equal consecutive timestamps are allowed because many clients tick
/// coarsely (about 15.6 ms on Windows).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MouseEvent {
    /// Client timestamp in milliseconds.
    pub time_ms: f64,
    /// Horizontal position in pixels.
    pub x: f64,
    /// Vertical position in pixels, growing downwards.
    pub y: f64,
    /// The button pressed, released or held; [`MouseButton::None`] for moves and scrolls.
    pub button: MouseButton,
    /// What happened.
    pub kind: MouseKind,
}

impl MouseEvent {
    /// Builds a cursor move with no button held.
    pub fn moved(time_ms: f64, x: f64, y: f64) -> Self {
        MouseEvent {
            time_ms,
            x,
            y,
            button: MouseButton::None,
            kind: MouseKind::Move,
        }
    }
}
