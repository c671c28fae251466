//! `aalto::parse` on arbitrary bytes, read as plain text or through the gzip decoder the
//! loader uses: an error or sentences of time-ordered events.
#![no_main]
use kinetype::datasets::aalto;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, content)) = data.split_first() else {
        return;
    };
    let path = std::path::Path::new("7_keystrokes.txt.gz");
    let result = if mode & 1 == 0 {
        aalto::parse(content, path)
    } else {
        aalto::parse(flate2::read::MultiGzDecoder::new(content), path)
    };
    let Ok((participant, _skips)) = result else {
        return;
    };
    for sentence in &participant.sentences {
        assert!(
            sentence
                .events
                .windows(2)
                .all(|w| w[0].time_us <= w[1].time_us)
        );
    }
});
