//! Checks every entry point makes at the C boundary: catch panics, record the last error of the
//! calling thread, check pointers, lengths and strings.

use std::any::Any;
use std::cell::RefCell;
use std::ffi::{CStr, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::status::{Failure, kinetype_status};

thread_local! {
    /// Message of the last failed call on this thread; empty after a successful call.
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Runs `body`, catching any panic, and turns its outcome into a status. The thread's last
/// error message is cleared on success and replaced on failure.
pub(crate) fn guard(body: impl FnOnce() -> Result<(), Failure>) -> kinetype_status {
    // AssertUnwindSafe: after a caught panic the engine's per-user mutexes recover from
    // poisoning, and the Panic status tells the caller that the request's effect is unknown.
    let failure = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => {
            set_last_error(String::new());
            return kinetype_status::Ok;
        }
        Ok(Err(failure)) => failure,
        Err(payload) => Failure::new(
            kinetype_status::Panic,
            format!("kinetype panicked: {}", panic_text(&*payload)),
        ),
    };
    let status = failure.status;
    set_last_error(failure.message);
    status
}

fn panic_text(payload: &(dyn Any + Send)) -> &str {
    if let Some(text) = payload.downcast_ref::<&str>() {
        text
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text
    } else {
        "a panic without a message"
    }
}

fn set_last_error(message: String) {
    // A thread being torn down has no last error to keep, so a failed access is ignored.
    let _ = LAST_ERROR.try_with(|slot| {
        if let Ok(mut slot) = slot.try_borrow_mut() {
            *slot = message;
        }
    });
}

/// Runs `read` on the calling thread's last error message.
pub(crate) fn with_last_error<T>(read: impl FnOnce(&str) -> T) -> T {
    let message = LAST_ERROR
        .try_with(|slot| slot.try_borrow().map(|m| m.clone()).unwrap_or_default())
        .unwrap_or_default();
    read(&message)
}

#[cold]
fn null(name: &str) -> Failure {
    Failure::new(
        kinetype_status::NullPointer,
        format!("argument `{name}` is NULL"),
    )
}

/// Borrows `*ptr`, or fails with `NullPointer` naming the argument.
///
/// # Safety
///
/// A non-null `ptr` must point to a valid, initialised `T` that stays unchanged for `'a`.
pub(crate) unsafe fn arg_ref<'a, T>(ptr: *const T, name: &str) -> Result<&'a T, Failure> {
    // SAFETY: the caller guarantees that a non-null `ptr` points to a valid `T` for `'a`.
    unsafe { ptr.as_ref() }.ok_or_else(|| null(name))
}

/// Checks that an output pointer is not NULL before any work is done, so that a call that
/// cannot report its result does nothing.
pub(crate) fn arg_out<T>(ptr: *mut T, name: &str) -> Result<OutPtr<T>, Failure> {
    if ptr.is_null() {
        Err(null(name))
    } else {
        Ok(OutPtr(ptr))
    }
}

/// A checked non-null output pointer, written once on success.
#[derive(Debug)]
pub(crate) struct OutPtr<T>(*mut T);

impl<T> OutPtr<T> {
    /// Writes `value` without reading or dropping what the caller left there.
    ///
    /// # Safety
    ///
    /// The pointer given to [`arg_out`] must be valid for writes of a `T` and aligned.
    pub(crate) unsafe fn write(self, value: T) {
        // SAFETY: non-null by construction in `arg_out`; valid and aligned by the caller's
        // contract.
        unsafe { self.0.write(value) }
    }
}

/// Borrows a NUL-terminated UTF-8 string argument.
///
/// # Safety
///
/// A non-null `ptr` must point to a NUL-terminated string that stays unchanged for `'a`.
pub(crate) unsafe fn arg_str<'a>(ptr: *const c_char, name: &str) -> Result<&'a str, Failure> {
    if ptr.is_null() {
        return Err(null(name));
    }
    // SAFETY: non-null checked above; NUL termination and lifetime by the caller's contract.
    let text = unsafe { CStr::from_ptr(ptr) };
    text.to_str().map_err(|e| {
        Failure::new(
            kinetype_status::InvalidUtf8,
            format!(
                "argument `{name}` is not valid UTF-8: invalid byte at offset {}",
                e.valid_up_to()
            ),
        )
    })
}

/// Borrows `len` elements at `ptr`. A zero length gives an empty slice and `ptr` may then be
/// NULL; a non-zero length needs a non-null `ptr`.
///
/// # Safety
///
/// When `len > 0`, `ptr` must point to `len` initialised, aligned `T` that stay unchanged
/// for `'a`.
pub(crate) unsafe fn arg_slice<'a, T>(
    ptr: *const T,
    len: usize,
    name: &str,
) -> Result<&'a [T], Failure> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(null(name));
    }
    let fits = len
        .checked_mul(size_of::<T>())
        .is_some_and(|bytes| bytes <= isize::MAX as usize);
    if !fits {
        return Err(Failure::invalid(format!(
            "argument `{name}`: length {len} exceeds the address space"
        )));
    }
    // SAFETY: non-null, and the byte size fits in isize (both checked above); validity,
    // alignment and lifetime of `len` elements by the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}
