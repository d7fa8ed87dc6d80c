//! `Guard::check` must never panic, whatever bytes it is given, under either policy.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_sqlguard::Guard;

fuzz_target!(|data: &[u8]| {
    if let Ok(sql) = std::str::from_utf8(data) {
        let _ = Guard::read_only().check(sql);
        let _ = Guard::write().check(sql);
    }
});
