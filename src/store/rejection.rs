//! Messages of structural checks that fail while a model file's payload is deserialised.
//!
//! Models check their fields when deserialised (`#[serde(try_from = ...)]`) and reject
//! structures that scoring could not handle. Serde hands the check's message to the
//! format's error type, but postcard 1.x replaces it with the bare `SerdeDeCustom` variant,
//! whose text ("Serde Deserialization Error") names neither the field nor the value. A
//! [`Rejection`] therefore also keeps its message in a thread-local slot, which
//! [`decode_file`](super::decode_file) reads when postcard reports a custom error. Decoding
//! runs on one thread from start to end, so the slot contains the message of that decode.

use std::cell::RefCell;
use std::fmt;

thread_local! {
    static LAST: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// The reason a model's serialised fields were refused; the error type of the models' `TryFrom`
/// conversions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection(String);

impl From<String> for Rejection {
    fn from(message: String) -> Self {
        LAST.with(|last| *last.borrow_mut() = Some(message.clone()));
        Rejection(message)
    }
}

impl From<&str> for Rejection {
    fn from(message: &str) -> Self {
        Rejection::from(message.to_owned())
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Rejection {}

/// Forgets any message left by an earlier decode on this thread.
pub(super) fn clear() {
    LAST.with(|last| last.borrow_mut().take());
}

/// Takes the message of the latest rejection on this thread, if any.
pub(super) fn take() -> Option<String> {
    LAST.with(|last| last.borrow_mut().take())
}
