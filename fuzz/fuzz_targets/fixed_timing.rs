//! `FixedPhrase::timing_vector` over arbitrary key events: an error or a finite vector of the
//! phrase's dimension.
#![no_main]
use arbitrary::Arbitrary;
use kinetype::events::KeyEvent;
use kinetype::keystroke::FixedPhrase;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    phrase: Vec<u8>,
    ignored: Vec<u8>,
    events: Vec<(u8, bool, i64)>,
}

fuzz_target!(|input: Input| {
    let codes: Vec<u32> = input
        .phrase
        .iter()
        .take(32)
        .map(|&c| u32::from(c % 16))
        .collect();
    let labels: Vec<String> = (0..codes.len()).map(|i| format!("k{i}")).collect();
    let Ok(phrase) = FixedPhrase::new(codes, labels) else {
        return;
    };
    let ignored: Vec<u32> = input.ignored.iter().map(|&c| u32::from(c % 32)).collect();
    let events: Vec<KeyEvent> = input
        .events
        .iter()
        .map(|&(code, press, t)| {
            let code = u32::from(code % 32);
            if press {
                KeyEvent::press(code, t)
            } else {
                KeyEvent::release(code, t)
            }
        })
        .collect();
    if let Ok(vector) = phrase.timing_vector(&events, &ignored) {
        assert_eq!(vector.values.len(), phrase.dimension());
        assert!(
            vector.values.iter().all(|v| v.is_finite()),
            "{:?}",
            vector.values
        );
    }
});
