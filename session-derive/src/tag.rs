//! The cookie tag of a storage key, for the compile-time collision check: a copy of
//! `session_core`'s `field_tag` (which this crate cannot depend on). Both pin the same values in
//! their tests; the cookie format depends on them never changing.

/// The 16-bit tag cookie sessions store the entry of `key` under (never 0).
pub(crate) fn field_tag(key: &str) -> u16 {
    if let Some(tag) = named_tag(key) {
        return tag;
    }
    // FNV-1a (64 bits), then MurmurHash3's finalizer.
    let mut hash = key
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3));
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    hash ^= hash >> 33;
    u16::try_from((hash >> 32) % 0xffff).map_or(1, |tag| tag + 1)
}

/// A key of the form `"\0" + 4 lowercase hex digits` (not all zero) names its tag.
fn named_tag(key: &str) -> Option<u16> {
    let digits =
        key.strip_prefix('\0').filter(|d| d.len() == 4 && d.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))?;
    u16::from_str_radix(digits, 16).ok().filter(|&tag| tag != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The values `session_core`'s own tests pin.
    #[test]
    fn tags_are_pinned() {
        let pinned =
            [("", 0x0f32), ("a", 0x2bfc), ("user_id", 0x352e), ("seen_at", 0xaf0a), ("t", 0x72ad), ("pw", 0x1b47)];
        let computed: Vec<(&str, u16)> = pinned.iter().map(|&(key, _)| (key, field_tag(key))).collect();
        assert_eq!(computed, pinned);
        assert_eq!(field_tag("tp"), field_tag("pw"));
        assert_eq!(field_tag("\x001a2b"), 0x1a2b);
        assert_ne!(field_tag("\x001A2B"), 0x1a2b);
        assert_ne!(field_tag("\x000000"), 0);
    }
}
