//! What a user types or writes: arbitrary bytes as a scenario file or as a command
//! line. Either is accepted or refused with a message; nothing may panic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        // A scenario file. Component paths resolve against a directory that does not
        // exist, so only built-in guests can be found.
        let text = String::from_utf8_lossy(rest);
        let _ = simnet::world::scenario::parse(Path::new("/nonexistent/fuzz.toml"), &text);
    } else {
        // A command line: arguments separated by NUL bytes. `check_command_line` parses
        // and checks without running anything.
        let args: Vec<String> = rest
            .split(|&b| b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let _ = simnet_cli::check_command_line(args);
    }
});
