//! Key and mouse events as plain C structs, and their conversion to the core types.

use kinetype_core::events::{KeyAction, KeyEvent, MouseButton, MouseEvent, MouseKind};

use crate::status::Failure;

/// Whether a key went down or came up; the value of `kinetype_key_event.action`.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum kinetype_key_action {
    /// The key went down.
    Press = 0,
    /// The key came up.
    Release = 1,
}

/// The button of a mouse event; the value of `kinetype_mouse_event.button`.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum kinetype_mouse_button {
    /// No button: plain moves and wheel events.
    None = 0,
    /// The primary (left) button.
    Left = 1,
    /// The secondary (right) button.
    Right = 2,
    /// The middle button or wheel click.
    Middle = 3,
    /// Any other button, such as the side buttons X1 and X2.
    Other = 4,
}

/// Kind of a mouse event, the value of `kinetype_mouse_event.kind`.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum kinetype_mouse_kind {
    /// The cursor moved with no button held.
    Move = 0,
    /// A button went down.
    Press = 1,
    /// A button came up.
    Release = 2,
    /// The cursor moved while a button was held.
    Drag = 3,
    /// The wheel turned; the position is where the cursor was.
    Scroll = 4,
}

macro_rules! c_enum_number {
    ($($name:ident),*) => {$(
        impl From<$name> for u32 {
            fn from(value: $name) -> u32 {
                value as u32
            }
        }
    )*};
}

c_enum_number!(
    kinetype_key_action,
    kinetype_mouse_button,
    kinetype_mouse_kind
);

/// One key transition.
///
/// `code` is a physical key code (for example a USB HID usage or a browser `keyCode`);
/// kinetype never needs the character. Timestamps are microseconds on any monotonic clock of
/// the recording client; only differences are used, and they must not decrease within a
/// session.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct kinetype_key_event {
    /// Physical key code.
    pub code: u32,
    /// A `kinetype_key_action` value.
    pub action: u32,
    /// Timestamp in microseconds, at least 0.
    pub time_us: i64,
}

/// One mouse event.
///
/// Positions are screen pixels with the origin at the top-left corner and y growing
/// downwards. Timestamps are milliseconds on any clock of the recording client; only
/// differences are used, they must not decrease within a session, and equal consecutive
/// timestamps are allowed.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct kinetype_mouse_event {
    /// Timestamp in milliseconds; finite and at least 0.
    pub time_ms: f64,
    /// Horizontal position in pixels; finite.
    pub x_px: f64,
    /// Vertical position in pixels, growing downwards; finite.
    pub y_px: f64,
    /// A `kinetype_mouse_button` value: the button pressed, released or held, `NONE` for
    /// moves and scrolls.
    pub button: u32,
    /// A `kinetype_mouse_kind` value.
    pub kind: u32,
}

const KEY_ACTIONS: [(kinetype_key_action, KeyAction); 2] = [
    (kinetype_key_action::Press, KeyAction::Press),
    (kinetype_key_action::Release, KeyAction::Release),
];

const MOUSE_BUTTONS: [(kinetype_mouse_button, MouseButton); 5] = [
    (kinetype_mouse_button::None, MouseButton::None),
    (kinetype_mouse_button::Left, MouseButton::Left),
    (kinetype_mouse_button::Right, MouseButton::Right),
    (kinetype_mouse_button::Middle, MouseButton::Middle),
    (kinetype_mouse_button::Other, MouseButton::Other),
];

const MOUSE_KINDS: [(kinetype_mouse_kind, MouseKind); 5] = [
    (kinetype_mouse_kind::Move, MouseKind::Move),
    (kinetype_mouse_kind::Press, MouseKind::Press),
    (kinetype_mouse_kind::Release, MouseKind::Release),
    (kinetype_mouse_kind::Drag, MouseKind::Drag),
    (kinetype_mouse_kind::Scroll, MouseKind::Scroll),
];

/// Finds the core value of a C enum number; the C side may send any `uint32_t`, so the
/// number is matched against the table rather than transmuted.
fn lookup<C: Copy + Into<u32>, R: Copy>(table: &[(C, R)], value: u32) -> Option<R> {
    table
        .iter()
        .find(|(c, _)| (*c).into() == value)
        .map(|&(_, r)| r)
}

#[cold]
fn bad_field(array: &str, index: usize, field: &str, value: impl std::fmt::Display) -> Failure {
    Failure::invalid(format!("{array}[{index}].{field} = {value} is invalid"))
}

/// Converts C key events; `array` names the argument in errors.
pub(crate) fn key_events(
    events: &[kinetype_key_event],
    array: &str,
) -> Result<Vec<KeyEvent>, Failure> {
    events
        .iter()
        .enumerate()
        .map(|(index, e)| {
            let action = lookup(&KEY_ACTIONS, e.action).ok_or_else(|| {
                bad_field(
                    array,
                    index,
                    "action",
                    format_args!("{} (expected a kinetype_key_action value)", e.action),
                )
            })?;
            Ok(KeyEvent {
                code: e.code,
                action,
                time_us: e.time_us,
            })
        })
        .collect()
}

/// Converts C mouse events, rejecting unknown enum values and non-finite numbers; `array`
/// names the argument in errors.
pub(crate) fn mouse_events(
    events: &[kinetype_mouse_event],
    array: &str,
) -> Result<Vec<MouseEvent>, Failure> {
    events
        .iter()
        .enumerate()
        .map(|(index, e)| {
            for (field, value) in [("time_ms", e.time_ms), ("x_px", e.x_px), ("y_px", e.y_px)] {
                if !value.is_finite() {
                    return Err(bad_field(
                        array,
                        index,
                        field,
                        format_args!("{value} (expected a finite number)"),
                    ));
                }
            }
            let button = lookup(&MOUSE_BUTTONS, e.button).ok_or_else(|| {
                bad_field(
                    array,
                    index,
                    "button",
                    format_args!("{} (expected a kinetype_mouse_button value)", e.button),
                )
            })?;
            let kind = lookup(&MOUSE_KINDS, e.kind).ok_or_else(|| {
                bad_field(
                    array,
                    index,
                    "kind",
                    format_args!("{} (expected a kinetype_mouse_kind value)", e.kind),
                )
            })?;
            Ok(MouseEvent {
                time_ms: e.time_ms,
                x: e.x_px,
                y: e.y_px,
                button,
                kind,
            })
        })
        .collect()
}
