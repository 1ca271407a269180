//! Policy file parsing: any text either parses or is refused with a message.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = tether_hooks::check_policy(text);
    }
});
