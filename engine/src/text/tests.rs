#![allow(clippy::unwrap_used)]

use super::*;
use rand::Rng;

fn check(text: &str, encoding: Encoding, length: usize, units: usize, parts: usize) {
    let info = analyse(text);
    assert_eq!(
        info,
        TextInfo {
            encoding,
            length,
            units,
            parts
        },
        "analyse of a {}-char text",
        text.chars().count()
    );
    let split = split(text);
    assert_eq!(split.encoding, encoding);
    assert_eq!(split.parts.len(), parts, "split and analyse disagree");
}

#[test]
fn tables_are_the_real_gsm_03_38() {
    assert!(is_gsm7(
        "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./"
    ));
    assert!(is_gsm7("0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿"));
    assert!(is_gsm7("abcdefghijklmnopqrstuvwxyzäöñüà\u{0C}^{}\\[~]|€"));
    assert!(is_gsm7("é"));
    assert!(!is_gsm7("ê"));
    assert!(is_gsm7("Ç"));
    assert!(!is_gsm7("ç"));
    assert!(!is_gsm7("`"));
    assert!(!is_gsm7("\t"));
    assert!(!is_gsm7("$\u{1B}"));
    assert!(!is_gsm7("😀"));
    assert!(!is_gsm7("á"));
    assert_eq!(gsm7_encode("@").unwrap(), [0x00]);
    assert_eq!(gsm7_encode("€").unwrap(), [0x1B, 0x65]);
    assert_eq!(gsm7_encode("A\n\r").unwrap(), [0x41, 0x0A, 0x0D]);
    // Every basic code except ESC, and every extension, survives encode → decode.
    for (code, c) in GSM7_BASIC.iter().enumerate() {
        if code != usize::from(ESC) {
            let s = c.to_string();
            assert_eq!(gsm7_encode(&s).unwrap(), [code as u8], "{c:?}");
            assert_eq!(gsm7_decode(&[code as u8]), s);
        }
    }
    for (c, ext) in GSM7_EXTENSION {
        assert_eq!(gsm7_encode(&c.to_string()).unwrap(), [ESC, ext]);
    }
}

#[test]
fn empty_text_is_one_empty_gsm_part() {
    check("", Encoding::Gsm7, 0, 0, 1);
    assert_eq!(split("").parts, vec![Vec::<u8>::new()]);
}

#[test]
fn gsm_boundaries() {
    let a = |n| "a".repeat(n);
    check(&a(160), Encoding::Gsm7, 160, 160, 1);
    check(&a(161), Encoding::Gsm7, 161, 161, 2);
    check(&a(306), Encoding::Gsm7, 306, 306, 2);
    check(&a(307), Encoding::Gsm7, 307, 307, 3);
    check(&a(918), Encoding::Gsm7, 918, 918, 6);
    check(&a(919), Encoding::Gsm7, 919, 919, 7);
    let parts = split(&a(161)).parts;
    assert_eq!(parts[0].len(), 153);
    assert_eq!(parts[1].len(), 8);
}

#[test]
fn escape_pairs_cost_two_and_are_never_split() {
    check(&"€".repeat(80), Encoding::Gsm7, 80, 160, 1);
    check(&"€".repeat(81), Encoding::Gsm7, 81, 162, 2);
    // 152 plain chars then € would straddle septet 153: it moves whole to part 2.
    let text = format!("{}€{}", "a".repeat(152), "b".repeat(47));
    check(&text, Encoding::Gsm7, 200, 201, 2);
    let parts = split(&text).parts;
    assert_eq!(parts[0], vec![b'a'; 152]);
    assert_eq!(&parts[1][..2], &[ESC, 0x65]);
    assert_eq!(parts[1].len(), 2 + 47);
    for c in ['{', '}', '[', ']', '~', '^', '|', '\\', '\u{0C}'] {
        let text = format!("{}{c}{}", "x".repeat(152), "y".repeat(10));
        let parts = split(&text).parts;
        assert_eq!(parts.len(), 2, "{c:?}");
        assert_eq!(parts[0].len(), 152);
        assert_eq!(parts[1][0], ESC);
        assert_eq!(gsm7_decode(&parts.concat()), text);
    }
    // A part holding 152 septets can push the count over: 6 parts of 153 minus one lost
    // septet per straddled escape.
    let text = format!("{}€{}", "a".repeat(152), "a".repeat(153 * 5 - 1));
    assert_eq!(analyse(&text).units, 918);
    assert_eq!(analyse(&text).parts, 7);
    assert_eq!(split(&text).parts.len(), 7);
}

#[test]
fn newlines_are_gsm() {
    check("line one\nline two\r\n", Encoding::Gsm7, 19, 19, 1);
    let text = "ab\r\n".repeat(41); // 164 septets
    check(&text, Encoding::Gsm7, 164, 164, 2);
    assert_eq!(gsm7_decode(&split(&text).parts.concat()), text);
}

#[test]
fn ucs2_boundaries() {
    let u = |n| "ж".repeat(n);
    check(&u(70), Encoding::Ucs2, 70, 70, 1);
    check(&u(71), Encoding::Ucs2, 71, 71, 2);
    check(&u(134), Encoding::Ucs2, 134, 134, 2);
    check(&u(135), Encoding::Ucs2, 135, 135, 3);
    let parts = split(&u(71)).parts;
    assert_eq!(parts[0].len(), 2 * 67);
    assert_eq!(parts[1].len(), 2 * 4);
    assert_eq!(&parts[0][..2], &[0x04, 0x36]);
}

#[test]
fn emoji_at_the_67_unit_boundary_stays_whole() {
    check(&"😀".repeat(35), Encoding::Ucs2, 35, 70, 1);
    check(&"😀".repeat(36), Encoding::Ucs2, 36, 72, 2);
    // 66 units then an emoji: the pair would straddle unit 67, so it starts part 2.
    let emoji: Vec<u8> = "😀".encode_utf16().flat_map(u16::to_be_bytes).collect();
    let text = format!("{}😀{}", "x".repeat(66), "ê".repeat(10));
    check(&text, Encoding::Ucs2, 77, 78, 2);
    let parts = split(&text).parts;
    assert_eq!(parts[0].len(), 2 * 66);
    assert_eq!(&parts[1][..4], emoji.as_slice());
    assert_eq!(ucs2_decode(&parts[0]), "x".repeat(66));
    assert_eq!(ucs2_decode(&parts.concat()), text);
    // 65 units then an emoji fills the first part exactly.
    let text = format!("{}😀{}", "x".repeat(65), "ê".repeat(10));
    check(&text, Encoding::Ucs2, 76, 77, 2);
    let parts = split(&text).parts;
    assert_eq!(parts[0].len(), 2 * 67);
    assert_eq!(&parts[0][130..], emoji.as_slice());
}

#[test]
fn one_non_gsm_char_turns_the_whole_text_ucs2() {
    check("café", Encoding::Gsm7, 4, 4, 1);
    check("crêpe", Encoding::Ucs2, 5, 5, 1);
    check("garçon", Encoding::Ucs2, 6, 6, 1);
    check("GARÇON", Encoding::Gsm7, 6, 6, 1);
    // 100 GSM chars (including an escape) then one non-GSM char: counted as UCS-2 from the
    // start, where € is one unit, not two septets.
    let text = format!("{}€ê", "a".repeat(99));
    check(&text, Encoding::Ucs2, 101, 101, 2);
    let parts = split(&text).parts;
    assert_eq!(parts[0].len(), 2 * 67);
    assert_eq!(ucs2_decode(&parts.concat()), text);
}

#[test]
fn max_parts() {
    assert_eq!(
        check_max_parts(&analyse(&"a".repeat(918)), DEFAULT_MAX_PARTS),
        Ok(())
    );
    let err = check_max_parts(&analyse(&"a".repeat(919)), DEFAULT_MAX_PARTS).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the message needs 7 GSM-7 parts but at most 6 are allowed \
         (6 parts hold 918 GSM-7 characters)"
    );
    let err = check_max_parts(&analyse(&"ж".repeat(403)), DEFAULT_MAX_PARTS).unwrap_err();
    assert!(err.to_string().contains("needs 7 UCS-2 parts"));
    assert!(err.to_string().contains("402 UCS-2"));
    assert!(check_max_parts(&analyse(&"a".repeat(161)), 1).is_err());
    assert_eq!(Encoding::Gsm7.to_string(), "GSM-7");
    assert_eq!(Encoding::Ucs2.to_string(), "UCS-2");
}

#[test]
fn pack_and_unpack() {
    // "hello" packs to E8 32 9B FD 06 (a classic vector).
    let septets = gsm7_encode("hello").unwrap();
    assert_eq!(gsm7_pack(&septets), [0xE8, 0x32, 0x9B, 0xFD, 0x06]);
    assert_eq!(gsm7_unpack(&[0xE8, 0x32, 0x9B, 0xFD, 0x06], 5), septets);
    let mut rng = rand::rng();
    for len in 0..200_usize {
        let septets: Vec<u8> = (0..len).map(|_| rng.random_range(0..128)).collect();
        let packed = gsm7_pack(&septets);
        assert_eq!(packed.len(), (len * 7).div_ceil(8));
        assert_eq!(gsm7_unpack(&packed, len), septets);
    }
    assert_eq!(gsm7_unpack(&[0xE8], 5), [0x68]);
}

#[test]
fn decoders_are_lossy_not_panicky() {
    assert_eq!(gsm7_decode(&[0x41, ESC]), "A");
    assert_eq!(gsm7_decode(&[ESC, 0x41]), "A");
    assert_eq!(ucs2_decode(&[0x00, 0x41, 0x00]), "A\u{FFFD}");
    assert_eq!(ucs2_decode(&[0xD8, 0x3D]), "\u{FFFD}");
}

#[test]
fn push_run_equals_single_pushes() {
    for start in 0..40 {
        for run in 0..100 {
            let mut one = Filler::new(17);
            let mut many = Filler::new(17);
            for _ in 0..start {
                one.push(2);
                many.push(2);
            }
            for _ in 0..run {
                one.push(1);
            }
            many.push_run(run);
            assert_eq!(
                (one.parts, one.fill),
                (many.parts, many.fill),
                "{start} {run}"
            );
        }
    }
}

const GSM_SAMPLE: &[char] = &[
    'a', 'Z', '0', ' ', '\n', '\r', '@', '£', 'é', 'Ç', 'Δ', '¿', '€', '{', '}', '[', ']', '~',
    '^', '|', '\\', '\u{0C}',
];

#[test]
fn gsm_split_join_round_trip() {
    let mut rng = rand::rng();
    for _ in 0..2_000 {
        let len = rng.random_range(0..1_000);
        let text: String = (0..len)
            .map(|_| {
                // Mostly plain ASCII so the 8-byte fast path and its edges are exercised.
                if rng.random_bool(0.85) {
                    char::from(rng.random_range(b'a'..=b'z'))
                } else {
                    GSM_SAMPLE[rng.random_range(0..GSM_SAMPLE.len())]
                }
            })
            .collect();
        let info = analyse(&text);
        let split = split(&text);
        assert_eq!(info.encoding, Encoding::Gsm7);
        assert_eq!(split.parts.len(), info.parts);
        assert_eq!(split.parts.iter().map(Vec::len).sum::<usize>(), info.units);
        let limit = if info.parts == 1 {
            GSM7_SINGLE
        } else {
            GSM7_MULTI
        };
        for part in &split.parts {
            assert!(part.len() <= limit);
            assert_ne!(part.last(), Some(&ESC), "escape pair split");
        }
        assert_eq!(gsm7_decode(&split.parts.concat()), text);
        if info.parts > 1 {
            assert!(info.parts >= info.units.div_ceil(GSM7_MULTI));
        }
    }
}

#[test]
fn ucs2_split_join_round_trip() {
    let sample = ['a', 'ж', 'ê', '€', '😀', '🇬', '中', '\n'];
    let mut rng = rand::rng();
    for _ in 0..2_000 {
        let len = rng.random_range(1..600);
        let mut text: String = (0..len)
            .map(|_| sample[rng.random_range(0..sample.len())])
            .collect();
        text.push('😀');
        let info = analyse(&text);
        let split = split(&text);
        assert_eq!(info.encoding, Encoding::Ucs2);
        assert_eq!(info.units, text.encode_utf16().count());
        assert_eq!(info.length, text.chars().count());
        assert_eq!(split.parts.len(), info.parts);
        let limit = if info.parts == 1 {
            UCS2_SINGLE
        } else {
            UCS2_MULTI
        };
        for part in &split.parts {
            assert!(part.len() <= 2 * limit);
            // Each part decodes on its own: no surrogate pair was cut.
            assert!(!ucs2_decode(part).contains('\u{FFFD}'));
        }
        assert_eq!(ucs2_decode(&split.parts.concat()), text);
    }
}
