//! Fuzzes the pi-format deriver: arbitrary bytes, split into lines, fed to
//! one deriver in sequence (so per-file context is exercised too). Checks
//! that nothing panics and that the byte pre-filter never changes a count.
#![no_main]

use libfuzzer_sys::fuzz_target;
use telemetron::agents::pi::records::{cannot_matter, Deriver, Fork, KnownSessions, PiState};
use telemetron::metrics::{Counts, LineResult, Pack, SessionType};

fuzz_target!(|data: &[u8]| {
    let known = KnownSessions::default();
    let (mut a, mut b) = (PiState::default(), PiState::default());
    let (mut ca, mut cb) = (Counts::default(), Counts::default());
    {
        let mut fa = Deriver {
            pack: Pack::Pi,
            session_type: SessionType::Main,
            state: &mut a,
            known: &known,
            fork: Fork::default(),
        };
        let mut fb = Deriver {
            pack: Pack::Pi,
            session_type: SessionType::Main,
            state: &mut b,
            known: &known,
            fork: Fork::default(),
        };
        for line in data.split(|b| *b == b'\n') {
            let x = fa.line(line, &mut ca);
            let y = fb.line_unfiltered(line, &mut cb);
            assert!(x == y || (cannot_matter(line) && x == LineResult::Ignored));
        }
    }
    assert_eq!(ca, cb);
});
