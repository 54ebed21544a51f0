//! `lmi` on a real pseudo-terminal, driven expect-style (rexpect): wait for a question, type
//! the answer, keep everything the terminal showed.
//!
//! rexpect switches the terminal's echo off before it starts the program; a person's
//! terminal echoes, so the program is started through `sh -c 'stty echo; exec lmi …'`. What
//! was typed then shows on the screen unless lmi itself hides it, which is what a test of
//! hidden input must be able to see fail.
//!
//! rexpect reads the screen byte by byte as Latin-1: expect ASCII text only.
#![allow(clippy::unwrap_used)]

use std::process::Command;

use rexpect::process::WaitStatus;
use rexpect::session::{PtySession, spawn_command};

use super::Home;

/// How long one expected text may take to show (a sign-in through the headless browser is
/// the slowest).
const WAIT_MS: u64 = 60_000;

pub struct Terminal {
    session: PtySession,
    /// Everything the terminal showed so far.
    screen: String,
}

impl Terminal {
    /// Starts `lmi args…` in `home` on a new pseudo-terminal with echo on.
    pub fn spawn(home: &Home, args: &[&str]) -> Self {
        Self::spawn_in(home, None, args)
    }

    /// Like [`Terminal::spawn`], in the working directory `dir`.
    pub fn spawn_in(home: &Home, dir: Option<&std::path::Path>, args: &[&str]) -> Self {
        let lmi = home.cmd(args);
        let mut cmd = Command::new("sh");
        if let Some(dir) = dir {
            cmd.current_dir(dir);
        }
        cmd.arg("-c")
            .arg("stty echo && exec \"$0\" \"$@\"")
            .arg(env!("CARGO_BIN_EXE_lmi"))
            .args(args)
            .env_clear();
        for (k, v) in lmi.get_envs() {
            if let Some(v) = v {
                cmd.env(k, v);
            }
        }
        let session = spawn_command(cmd, Some(WAIT_MS)).expect("lmi on a pty");
        Terminal {
            session,
            screen: String::new(),
        }
    }

    /// Waits for `text`; panics with the whole screen if it does not show.
    #[track_caller]
    pub fn expect(&mut self, text: &str) -> &mut Self {
        match self.session.exp_string(text) {
            Ok(before) => {
                self.screen.push_str(&before);
                self.screen.push_str(text);
            }
            Err(e) => panic!(
                "{text:?} did not show ({e}); the terminal showed:\n{}",
                self.screen
            ),
        }
        self
    }

    /// Waits for `question`, then types `answer` and Enter.
    #[track_caller]
    pub fn answer(&mut self, question: &str, answer: &str) -> &mut Self {
        self.expect(question);
        self.session.send_line(answer).unwrap();
        self
    }

    /// Types Ctrl-D at the start of a line once `question` showed: the end of input.
    #[track_caller]
    pub fn end_input_at(&mut self, question: &str) -> &mut Self {
        self.expect(question);
        self.session.send_control('d').unwrap();
        self
    }

    /// What the terminal showed so far.
    pub fn screen(&self) -> &str {
        &self.screen
    }

    /// Reads to the end and waits for lmi: its exit code and the whole screen.
    pub fn finish(mut self) -> (i32, String) {
        match self.session.exp_eof() {
            Ok(rest) => self.screen.push_str(&rest),
            Err(e) => panic!(
                "lmi did not end ({e}); the terminal showed:\n{}",
                self.screen
            ),
        }
        let code = match self.session.process().wait() {
            Ok(WaitStatus::Exited(_, code)) => code,
            other => panic!("lmi ended as {other:?}:\n{}", self.screen),
        };
        (code, self.screen)
    }
}
