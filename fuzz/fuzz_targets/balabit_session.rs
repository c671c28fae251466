//! `balabit::parse_session` on arbitrary bytes: an error or finite events with increasing
//! in-range break indices.
#![no_main]
use kinetype::datasets::balabit;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(session) = balabit::parse_session(std::path::Path::new("session_1"), data) else {
        return;
    };
    for e in &session.events {
        assert!(
            e.time_ms.is_finite() && e.x.is_finite() && e.y.is_finite(),
            "{e:?}"
        );
    }
    assert!(session.breaks.windows(2).all(|w| w[0] < w[1]));
    assert!(session.breaks.iter().all(|&b| b <= session.events.len()));
});
