//! GPT-2's reversible map from bytes to printable characters (Radford et al. 2019), the spelling
//! of tokens in Hugging Face `tokenizers`' byte-level files (`vocab.json`, `merges.txt`).
//!
//! The printable bytes `!..=~`, `¡..=¬` and `®..=ÿ` stand for themselves; the other 68 (controls,
//! space, DEL, the Latin-1 controls, no-break space and soft hyphen) map in byte order to
//! U+0100, U+0101, ..., so the space is `Ġ` (U+0120) and the newline `Ċ` (U+010A).

/// Whether byte `b` is printed as itself.
fn printable(b: u8) -> bool {
    matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF)
}

/// The character of every byte, indexed by byte.
pub fn byte_chars() -> [char; 256] {
    let mut out = ['\0'; 256];
    let mut next = 256u32;
    for b in 0..=255u8 {
        out[b as usize] = if printable(b) {
            char::from(b)
        } else {
            let c = char::from_u32(next).expect("U+0100..U+0143 are characters");
            next += 1;
            c
        };
    }
    out
}

/// The byte a character stands for, if it is one of the 256.
pub fn char_byte(c: char) -> Option<u8> {
    let u = c as u32;
    if u < 256 && printable(u as u8) {
        return Some(u as u8);
    }
    let k = u.checked_sub(256)? as usize;
    (0..=255u8).filter(|&b| !printable(b)).nth(k)
}

/// `bytes` spelled in GPT-2's characters.
pub fn spell(bytes: &[u8]) -> String {
    let map = byte_chars();
    bytes.iter().map(|&b| map[b as usize]).collect()
}

/// The bytes a GPT-2 spelling stands for; `None` if a character is not one of the 256.
pub fn unspell(s: &str) -> Option<Vec<u8>> {
    s.chars().map(char_byte).collect()
}

/// The rank of every byte's character among the 256 in code-point order: the id Hugging Face's
/// `BpeTrainer` gives the byte (its initial alphabet is sorted by character).
pub fn hf_byte_ids() -> [u32; 256] {
    let map = byte_chars();
    let mut order: Vec<u8> = (0..=255).collect();
    order.sort_by_key(|&b| map[b as usize]);
    let mut ids = [0u32; 256];
    for (rank, &b) in order.iter().enumerate() {
        ids[b as usize] = rank as u32;
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_map_is_gpt2s_and_reversible() {
        let map = byte_chars();
        assert_eq!(map[b' ' as usize], 'Ġ');
        assert_eq!(map[b'\n' as usize], 'Ċ');
        assert_eq!(map[b'a' as usize], 'a');
        assert_eq!(map[0xAD], 'Ń');
        for b in 0..=255u8 {
            assert_eq!(char_byte(map[b as usize]), Some(b));
        }
        assert_eq!(char_byte('Ŕ'), None);
        assert_eq!(unspell(&spell(b"hi there\n")).unwrap(), b"hi there\n");
        let ids = hf_byte_ids();
        assert_eq!((ids[b'!' as usize], ids[0xFF], ids[0]), (0, 187, 188));
    }
}
