use std::path::Path;

use super::*;

const HEAD: &str = "record timestamp,client timestamp,button,state,x,y\n";

fn parse(body: &str) -> Result<MouseSession> {
    parse_session(
        Path::new("user1/session_x"),
        format!("{HEAD}{body}").as_bytes(),
    )
}

fn parse_error(content: &str) -> (u64, String) {
    match parse_session(Path::new("user1/session_x"), content.as_bytes()) {
        Err(Error::Parse {
            path,
            line,
            problem,
        }) => {
            assert_eq!(path, Path::new("user1/session_x"));
            (line, problem)
        }
        other => panic!("expected a parse error, got {other:?}"),
    }
}

#[test]
fn maps_rows_onto_events() -> Result<()> {
    let s = parse(
        "0.0,0.0,NoButton,Move,10,20\n\
         0.0,0.016,Left,Pressed,11,20\n\
         0.1,0.032,NoButton,Drag,15,22\n\
         0.1,0.048,Left,Released,16,22\n\
         0.2,0.5,Scroll,Down,16,22\n\
         0.2,0.6,XButton,Pressed,16,22\n",
    )?;
    assert_eq!(s.events.len(), 6);
    assert_eq!(s.events[0], MouseEvent::moved(0.0, 10.0, 20.0));
    assert_eq!(s.events[1].kind, MouseKind::Press);
    assert_eq!(s.events[1].button, MouseButton::Left);
    assert_eq!(s.events[2].kind, MouseKind::Drag);
    assert_eq!(
        s.events[2].button,
        MouseButton::Left,
        "drag gets the held button"
    );
    assert!((s.events[2].time_ms - 32.0).abs() < 1e-9);
    assert_eq!(s.events[4].kind, MouseKind::Scroll);
    assert_eq!(s.events[5].button, MouseButton::Other);
    assert_eq!(s.stats.drag_button_filled, 1);
    assert_eq!(s.stats.scroll_rows, 1);
    assert_eq!(
        s.stats.unpaired_presses, 1,
        "XButton press is never released"
    );
    assert!(s.breaks.is_empty());
    Ok(())
}

#[test]
fn record_timestamp_is_ignored() -> Result<()> {
    let s = parse("5.0,0.0,NoButton,Move,1,1\n0.0,0.016,NoButton,Move,2,1\n")?;
    assert_eq!(s.events[1].time_ms, 16.0);
    assert_eq!(s.stats.clock_backwards, 0);
    Ok(())
}

#[test]
fn duplicates_dropped_repeats_kept() -> Result<()> {
    let s = parse(
        "0.0,0.0,NoButton,Move,1,1\n\
         0.0,0.0,NoButton,Move,1,1\n\
         0.0,0.0,NoButton,Move,2,1\n",
    )?;
    assert_eq!(s.stats.rows, 3);
    assert_eq!(s.stats.duplicate_rows, 1);
    assert_eq!(s.stats.repeated_client_time, 1);
    assert_eq!(s.events.len(), 2);
    Ok(())
}

#[test]
fn sentinel_dropped_and_split() -> Result<()> {
    let s = parse(
        "0.0,0.0,NoButton,Move,100,100\n\
         100.0,100.0,NoButton,Move,65535,65535\n\
         100.0,100.01,NoButton,Move,101,100\n",
    )?;
    assert_eq!(s.stats.sentinel_rows, 1);
    assert_eq!(s.events.len(), 2);
    assert_eq!(s.breaks, vec![1]);
    assert_eq!(s.stats.idle_gaps_over_60s, 1);
    Ok(())
}

#[test]
fn jump_splits_stream() -> Result<()> {
    let s = parse(
        "0.0,0.0,NoButton,Move,0,0\n\
         0.0,0.016,NoButton,Move,900,200\n\
         0.0,0.032,NoButton,Move,901,200\n\
         0.0,0.5,NoButton,Move,0,0\n",
    )?;
    assert_eq!(s.stats.jumps, 1, "slow long moves are not warps");
    assert_eq!(s.breaks, vec![1]);
    assert_eq!(s.events.len(), 4);
    Ok(())
}

#[test]
fn backwards_clock_splits_stream() -> Result<()> {
    let s = parse("0.0,4000.0,NoButton,Move,0,0\n0.0,0.0,NoButton,Move,1,0\n")?;
    assert_eq!(s.stats.clock_backwards, 1);
    assert_eq!(s.breaks, vec![1]);
    Ok(())
}

#[test]
fn drag_without_press_counted() -> Result<()> {
    let s = parse("0.0,0.0,NoButton,Drag,0,0\n0.0,0.1,Left,Released,0,0\n")?;
    assert_eq!(s.stats.drag_without_press, 1);
    assert_eq!(s.stats.unpaired_releases, 1);
    assert_eq!(s.events[0].button, MouseButton::None);
    Ok(())
}

#[test]
fn crlf_and_blank_lines_accepted() -> Result<()> {
    let s = parse_session(
        Path::new("f"),
        b"record timestamp,client timestamp,button,state,x,y\r\n0,0,NoButton,Move,1,2\r\n\r\n",
    )?;
    assert_eq!(s.events.len(), 1);
    Ok(())
}

#[test]
fn empty_file_rejected() {
    let (line, problem) = parse_error("");
    assert_eq!(line, 0);
    assert!(problem.contains("empty"), "{problem}");
}

#[test]
fn header_only_rejected() {
    let (line, problem) = parse_error(HEAD);
    assert_eq!(line, 1);
    assert!(problem.contains("no data rows"), "{problem}");
}

#[test]
fn missing_column_named() {
    let (line, problem) =
        parse_error("record timestamp,client timestamp,button,state,x\n0,0,NoButton,Move,1\n");
    assert_eq!(line, 1);
    assert!(problem.contains("missing column `y`"), "{problem}");
}

#[test]
fn text_coordinate_named() {
    let (line, problem) = parse_error(&format!(
        "{HEAD}0,0,NoButton,Move,1,2\n0,0.1,NoButton,Move,abc,2\n"
    ));
    assert_eq!(line, 3);
    assert!(problem.contains("column `x`"), "{problem}");
    assert!(problem.contains("`abc`"), "{problem}");
}

#[test]
fn non_finite_time_rejected() {
    let (line, problem) = parse_error(&format!("{HEAD}0,NaN,NoButton,Move,1,2\n"));
    assert_eq!(line, 2);
    assert!(problem.contains("client timestamp"), "{problem}");
}

#[test]
fn truncated_line_named() {
    let (line, problem) = parse_error(&format!("{HEAD}0,0,NoButton,Move,1\n"));
    assert_eq!(line, 2);
    assert!(problem.contains("column `y` is missing"), "{problem}");
}

#[test]
fn extra_field_rejected() {
    let (line, problem) = parse_error(&format!("{HEAD}0,0,NoButton,Move,1,2,3\n"));
    assert_eq!(line, 2);
    assert!(problem.contains("7 fields"), "{problem}");
}

#[test]
fn unknown_state_named() {
    let (line, problem) = parse_error(&format!("{HEAD}0,0,NoButton,Hover,1,2\n"));
    assert_eq!(line, 2);
    assert!(problem.contains("`NoButton`/`Hover`"), "{problem}");
}

#[test]
fn impossible_pairs_rejected() {
    for pair in [
        "Scroll,Pressed",
        "NoButton,Pressed",
        "Left,Move",
        "Wheel,Up",
    ] {
        let (line, problem) = parse_error(&format!("{HEAD}0,0,{pair},1,2\n"));
        assert_eq!(line, 2, "{pair}");
        assert!(
            problem.contains("unknown button/state pair"),
            "{pair}: {problem}"
        );
    }
}

#[test]
fn negative_coordinate_rejected() {
    let (line, problem) = parse_error(&format!("{HEAD}0,0,NoButton,Move,-1,2\n"));
    assert_eq!(line, 2);
    assert!(problem.contains("negative"), "{problem}");
}

#[test]
fn labels_parsed_and_checked() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    let path = dir.path().join("labels.csv");
    let write = |text: &str| std::fs::write(&path, text).map_err(|e| Error::io(&path, e));
    write("filename,is_illegal\nsession_1,0\nsession_2,1\n")?;
    let labels = load_labels(&path)?;
    assert_eq!(labels.get("session_1"), Some(&false));
    assert_eq!(labels.get("session_2"), Some(&true));
    for (text, line, needle) in [
        ("name,label\n", 1, "header"),
        ("filename,is_illegal\nsession_1,2\n", 2, "not 0 or 1"),
        ("filename,is_illegal\nsession_1\n", 2, "two fields"),
        (
            "filename,is_illegal\nsession_1,0\nsession_1,1\n",
            3,
            "twice",
        ),
        ("filename,is_illegal\n", 1, "no labels"),
    ] {
        write(text)?;
        match load_labels(&path) {
            Err(Error::Parse {
                line: l, problem, ..
            }) => {
                assert_eq!(l, line, "{text:?}");
                assert!(problem.contains(needle), "{text:?}: {problem}");
            }
            other => panic!("{text:?}: expected a parse error, got {other:?}"),
        }
    }
    Ok(())
}

/// Parses every training file when `KINETYPE_DATA_DIR` points at the data. The row count is
/// the one the data set's documentation gives for the training files.
#[test]
fn real_sessions_parse() -> Result<()> {
    let Some(root) = std::env::var_os("KINETYPE_DATA_DIR") else {
        println!("skipped: KINETYPE_DATA_DIR is not set");
        return Ok(());
    };
    let dir = Path::new(&root).join("balabit").join(TRAINING_DIR);
    if !dir.is_dir() {
        println!("skipped: {} is missing", dir.display());
        return Ok(());
    }
    let mut total = ParseStats::default();
    for file in list_sessions(&dir)? {
        total += load_session(&file.path)?.stats;
    }
    assert_eq!(total.rows, 2_253_816);
    assert!(total.drag_button_filled > 0);
    assert!(total.duplicate_rows > 0);
    Ok(())
}
