use super::*;
use proptest::prelude::*;

fn small() -> BpeTokenizer {
    static SMALL: std::sync::OnceLock<BpeTokenizer> = std::sync::OnceLock::new();
    SMALL
        .get_or_init(|| {
            let text = "the cat sat on the mat; the hat, the bat. That's the thing: thin then there!\n".repeat(20);
            BpeTokenizer::train(&text, 300, BpeOptions::default()).unwrap()
        })
        .clone()
}

#[test]
fn trains_encodes_and_decodes() {
    let t = small();
    assert!(t.vocab_size() > 270 && t.vocab_size() <= 300, "{}", t.vocab_size());
    assert_eq!(t.token_bytes(0), Some(&[0u8][..]));
    let ids = t.encode(" the cat");
    assert!(ids.len() <= 2, "{ids:?}");
    assert_eq!(t.decode(&ids).unwrap(), " the cat");
    assert!(t.bytes_per_token("the cat sat on the mat").unwrap() > 3.0);
    assert!(t.bytes_per_token("").is_err());
}

#[test]
fn errors_are_typed() {
    let t = small();
    let e = t.decode(&[1, 300]).unwrap_err().to_string();
    assert!(e.contains("id 300 at position 1"), "{e}");
    assert!(t.decode(&[0xC3]).unwrap_err().to_string().contains("UTF-8"));
    assert_eq!(t.decode_bytes(&[0xC3]).unwrap(), [0xC3]);
    assert!(BpeTokenizer::train("abc", 255, BpeOptions::default()).is_err());
}

#[test]
fn stops_at_min_frequency() {
    let t = BpeTokenizer::train("ab ab cd", 1000, BpeOptions { min_frequency: 2 }).unwrap();
    // "ab" twice, " ab" once, "cd" once: one merge.
    assert_eq!(t.num_merges(), 1);
    assert_eq!(t.encode("ab"), [256]);
    let t = BpeTokenizer::train("ab ab cd", 1000, BpeOptions { min_frequency: 1 }).unwrap();
    assert_eq!(t.encode("ab ab cd").len(), 3);
}

#[test]
fn json_round_trip_and_corrupt_files() {
    let t = small();
    let back = BpeTokenizer::from_json(&t.to_json()).unwrap();
    assert_eq!(back, t);
    assert!(BpeTokenizer::from_json("{").unwrap_err().to_string().contains("not a BPE file"));
    let wrong = t.to_json().replace(FORMAT, "other");
    assert!(BpeTokenizer::from_json(&wrong).unwrap_err().to_string().contains("format"));
    let bad = r#"{"format":"tinylab-byte-bpe-v1","vocab":[],"merges":[[0,999]]}"#;
    assert!(BpeTokenizer::from_json(bad).unwrap_err().to_string().contains("not yet defined"));
    let mut file: serde_json::Value = serde_json::from_str(&t.to_json()).unwrap();
    file["vocab"][260] = "zz".into();
    assert!(BpeTokenizer::from_json(&file.to_string()).unwrap_err().to_string().contains("token 260 \"zz\" disagrees"));
    file["vocab"][260] = "Ŕ".into();
    assert!(BpeTokenizer::from_json(&file.to_string()).unwrap_err().to_string().contains("byte spelling"));
    file["vocab"].as_array_mut().unwrap().pop();
    assert!(BpeTokenizer::from_json(&file.to_string()).unwrap_err().to_string().contains("tokens but the merges"));
    let dir = std::env::temp_dir().join(format!("tinylab-bpe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bpe.json");
    t.save(&path).unwrap();
    assert_eq!(BpeTokenizer::load(&path).unwrap(), t);
    assert!(BpeTokenizer::load(&dir.join("missing.json")).unwrap_err().to_string().contains("missing.json"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn hf_files_spell_gpt2_bytes() {
    let t = small();
    let (vocab, merges) = t.to_hf_files();
    let vocab: serde_json::Value = serde_json::from_str(&vocab).unwrap();
    assert_eq!(vocab["Ġ"], 32);
    assert_eq!(vocab.as_object().unwrap().len(), t.vocab_size());
    assert!(merges.starts_with("#version: 0.2\n"));
    assert_eq!(merges.lines().count(), t.num_merges() + 1);
    assert_eq!(t.spelled_merges().len(), t.num_merges());
}

proptest! {
    #[test]
    fn round_trip_any_unicode(s in "\\PC*", t in "(\\PC| |\n|'s|the){0,40}") {
        let tok = small();
        for text in [&s, &t] {
            let ids = tok.encode(text);
            prop_assert!(ids.iter().all(|&i| (i as usize) < tok.vocab_size()));
            prop_assert_eq!(&tok.decode(&ids).unwrap(), text);
        }
    }

    #[test]
    fn zero_merges_is_utf8_bytes(s in "\\PC*") {
        let ids = BpeTokenizer::bytes().encode(&s);
        prop_assert_eq!(ids, s.bytes().map(u32::from).collect::<Vec<_>>());
        let ids = BpeTokenizer::train(&s, 256, BpeOptions::default()).unwrap().encode(&s);
        prop_assert_eq!(ids.len(), s.len());
    }

    #[test]
    fn trained_on_any_text_round_trips(s in "(\\PC| |\n){0,200}") {
        let tok = BpeTokenizer::train(&s, 400, BpeOptions { min_frequency: 1 }).unwrap();
        let ids = tok.encode(&s);
        prop_assert!(ids.iter().all(|&i| (i as usize) < tok.vocab_size()));
        prop_assert_eq!(tok.decode(&ids).unwrap(), s);
        prop_assert_eq!(BpeTokenizer::from_json(&tok.to_json()).unwrap(), tok);
    }
}
