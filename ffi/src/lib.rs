//! C API of the kinetype continuous-authentication engine.
//!
//! The header `include/kinetype.h` is generated from this crate by cbindgen; its comments are
//! these doc comments. Conventions that hold for every function unless its documentation
//! says otherwise:
//!
//! - It returns a `kinetype_status`. Output parameters are written only when it returns
//!   `KINETYPE_STATUS_OK`; on any other status they keep what the caller left there.
//! - A panic inside kinetype is caught and returned as `KINETYPE_STATUS_PANIC`; it never
//!   unwinds into C.
//! - Every pointer argument is checked: NULL gives `KINETYPE_STATUS_NULL_POINTER`, except an
//!   array pointer whose length is 0, which may be NULL.
//! - Strings are NUL-terminated and must be UTF-8, else `KINETYPE_STATUS_INVALID_UTF8`.
//! - After a failure, `kinetype_last_error_message` returns a description for the calling
//!   thread; a successful call clears it.
//! - Handles are opaque. Each `_new` has a `_free` that accepts NULL.
//!
//! The exceptions are `kinetype_engine_free` (returns nothing), `kinetype_abi_version`
//! (cannot fail and returns a number), and `kinetype_version` and `kinetype_status_name`
//! (cannot fail and return static strings).
//!
//! A program compiled against one header and linked, at run time, against another library
//! build would read structs with the wrong layout. Compare `kinetype_abi_version()` with the
//! header's `KINETYPE_ABI_VERSION` once at start-up and stop when they differ.

// The crate converts between C pointers and Rust references, which needs unsafe code; the
// workspace denies it everywhere else.
#![allow(unsafe_code, reason = "the C boundary needs raw pointers")]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![allow(non_camel_case_types, reason = "C type names follow the C convention")]

mod boundary;
mod config;
mod engine;
mod events;
mod results;
mod status;

use std::ffi::c_char;

pub use config::{kinetype_config, kinetype_config_default};
pub use engine::*;
pub use events::{
    kinetype_key_action, kinetype_key_event, kinetype_mouse_button, kinetype_mouse_event,
    kinetype_mouse_kind,
};
pub use results::{
    kinetype_adaptation, kinetype_decision, kinetype_enrolment_report, kinetype_enrolment_state,
    kinetype_enrolment_status, kinetype_modality_evidence, kinetype_reason, kinetype_score,
    kinetype_verdict,
};
pub use status::{kinetype_status, kinetype_status_name};

use boundary::with_last_error;

/// Version of the C interface: the layout of every struct, the value of every enum
/// constant, and the signature of every function of this C API. It rises by one with each
/// change to any of them, so a program built against one value cannot safely call a library
/// of another. The test `cargo test -p kinetype-ffi --test header` fails when the header's
/// declarations change while this value stays the same.
pub const KINETYPE_ABI_VERSION: u32 = 3;

/// Returns `KINETYPE_ABI_VERSION` as the linked library defines it. The library cannot
/// detect a mismatch itself, so a caller should compare this with the header's
/// `KINETYPE_ABI_VERSION` and call nothing else when they differ.
///
/// Never fails. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn kinetype_abi_version() -> u32 {
    KINETYPE_ABI_VERSION
}

/// Returns the library version as a static NUL-terminated string, such as `"0.1.0"`.
///
/// Never fails and never returns NULL; the string must not be freed. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn kinetype_version() -> *const c_char {
    const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");
    VERSION.as_ptr().cast()
}

/// Copies the calling thread's last error message, NUL-terminated, into `buf`.
///
/// `*needed` always receives the size the message needs including its NUL byte (1 when there
/// is no error). When `buf_len` is at least that, the message is copied and the call returns
/// `KINETYPE_STATUS_OK`; otherwise `buf` is left untouched and the call returns
/// `KINETYPE_STATUS_BUFFER_TOO_SMALL`, so passing `buf = NULL, buf_len = 0` queries the size.
/// This function never changes the stored message. Returns `KINETYPE_STATUS_NULL_POINTER`
/// when `needed` is NULL, or `buf` is NULL with `buf_len` above 0.
///
/// The message is per thread, so call this on the thread that made the failed call.
///
/// # Safety
///
/// `buf` must be NULL or valid for writing `buf_len` bytes; `needed` NULL or valid for
/// writing one `size_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kinetype_last_error_message(
    buf: *mut c_char,
    buf_len: usize,
    needed: *mut usize,
) -> kinetype_status {
    // Not run under `guard`, which would replace the message this function reports.
    let copy = std::panic::catch_unwind(|| {
        if needed.is_null() || (buf.is_null() && buf_len > 0) {
            return kinetype_status::NullPointer;
        }
        with_last_error(|message| {
            // An interior NUL would cut the message short in C, so it is shown as U+FFFD.
            let bytes = message.replace('\0', "\u{fffd}").into_bytes();
            let size = bytes.len() + 1;
            // SAFETY: `needed` is non-null (checked above) and valid by the caller's contract.
            unsafe { needed.write(size) };
            if buf_len < size {
                return kinetype_status::BufferTooSmall;
            }
            // SAFETY: `buf` is non-null (buf_len >= size >= 1 and the check above) and valid
            // for `buf_len >= size` bytes by the caller's contract; the regions cannot
            // overlap because `bytes` is a fresh allocation.
            unsafe {
                std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf.cast::<u8>(), bytes.len());
                buf.add(bytes.len()).write(0);
            }
            kinetype_status::Ok
        })
    });
    copy.unwrap_or(kinetype_status::Panic)
}

#[cfg(test)]
mod tests;
